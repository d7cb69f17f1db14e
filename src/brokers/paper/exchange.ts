/**
 * An in-process futures exchange: accounts, contracts, a deterministic price per contract, an order
 * book that matches against that price, OSO brackets with OCO legs, fills and net positions.
 *
 * It is the exchange model only, free of any transport: the paper broker (`broker.ts`) adapts it to
 * the broker port, and the Tradovate protocol simulator in the tests wraps the same model, so both
 * doubles agree on what an exchange does. Everything is synchronous and in memory; the only source of time is the
 * injected clock and the only source of randomness is the seeded price walk.
 */
import { err, ok, type Result } from '../../domain/result.js';
import { frontMonth, PRODUCTS, type Product, parseSymbol, roundToTick } from '../../domain/symbols.js';
import type { Side } from '../../domain/types.js';
import type { ContractInfo, OrderStatus, OrderType } from '../broker.js';

/**
 * Why the exchange refused a request. The names follow Tradovate's `FailureReason` where one fits
 * (`InvalidContract`, `InvalidPrice`, `AccountClosed`); the others name the refusals Tradovate reports
 * only as text.
 */
export type ExchangeFailureReason =
  | 'InvalidContract'
  | 'InvalidPrice'
  | 'InvalidQuantity'
  | 'AccountClosed'
  | 'UnknownAccount'
  | 'UnknownOrder'
  | 'OrderNotWorking';

/** A refusal: a stable reason and a sentence for people (Tradovate's `failureReason` / `failureText`). */
export interface ExchangeRejection {
  readonly reason: ExchangeFailureReason;
  readonly text: string;
}

export type ExchangeResult<T> = Result<T, ExchangeRejection>;

export interface ExchangeAccount {
  readonly id: string;
  readonly name: string;
  /** The credential (user) that may trade this account. */
  readonly owner: string;
  /** A closed account refuses new orders and modifications; cancels and liquidation still work. */
  readonly active: boolean;
}

/** A listed contract: the port's {@link ContractInfo} plus the maturity the simulator needs. */
export interface ExchangeContract extends ContractInfo {
  /** CME month code, e.g. `Z`. */
  readonly month: string;
  /** Four-digit year. */
  readonly year: number;
  /** Last trading day (approximated as the third Friday of the month), ISO 8601. */
  readonly expiration: string;
}

export interface ExchangeOrder {
  readonly id: string;
  readonly accountId: string;
  readonly clientOrderId: string | null;
  readonly contractId: string;
  /** Exact contract name, e.g. `MNQZ6`. */
  readonly contract: string;
  readonly side: Side;
  readonly type: OrderType;
  readonly quantity: number;
  readonly filledQuantity: number;
  /** Limit price; null for market and stop orders, and for a fill-relative leg not yet priced. */
  readonly price: number | null;
  /** Trigger price; null except for stop orders (and null for a fill-relative stop not yet priced). */
  readonly stopPrice: number | null;
  /** `pending` only for bracket legs waiting for their entry; never `rejected` (refusals create no order). */
  readonly status: OrderStatus;
  readonly averageFillPrice: number | null;
  /** For bracket legs: the entry order. */
  readonly parentId: string | null;
  /** Shared by the two legs of one bracket: a fill of one cancels the other. */
  readonly ocoId: string | null;
  readonly bracket: 'takeProfit' | 'stopLoss' | null;
  /** For a leg priced from its entry's fill: the distance in ticks; null once priced absolutely. */
  readonly offsetTicks: number | null;
  readonly automated: boolean;
  /** ISO 8601. */
  readonly createdAt: string;
  /** ISO 8601. */
  readonly updatedAt: string;
}

export interface ExchangeFill {
  readonly id: string;
  readonly orderId: string;
  readonly accountId: string;
  readonly contractId: string;
  readonly contract: string;
  readonly side: Side;
  readonly quantity: number;
  readonly price: number;
  /** ISO 8601. */
  readonly timestamp: string;
}

/**
 * One account's net position in one contract. It stays listed at zero after it is closed (as
 * Tradovate's position entity does); the paper broker drops flat ones.
 */
export interface ExchangePosition {
  readonly id: string;
  readonly accountId: string;
  readonly contractId: string;
  readonly contract: string;
  /** Signed: positive long, negative short. */
  readonly netQuantity: number;
  /** Average price of the open quantity; null when flat. */
  readonly averagePrice: number | null;
  readonly bought: number;
  readonly boughtValue: number;
  readonly sold: number;
  readonly soldValue: number;
  /** Realized profit or loss in currency (points × point value × contracts). */
  readonly realizedPnl: number;
  /** ISO 8601 of the last change. */
  readonly timestamp: string;
}

export type ExchangeEventKind = 'Created' | 'Updated' | 'Deleted';

/** One change, after it happened; the entity is a snapshot at that moment. */
export type ExchangeEvent =
  | {
      readonly type: 'order';
      readonly accountId: string;
      readonly event: ExchangeEventKind;
      readonly entity: ExchangeOrder;
    }
  | {
      readonly type: 'position';
      readonly accountId: string;
      readonly event: ExchangeEventKind;
      readonly entity: ExchangePosition;
    }
  | {
      readonly type: 'fill';
      readonly accountId: string;
      readonly event: ExchangeEventKind;
      readonly entity: ExchangeFill;
    };

export type ExchangeListener = (event: ExchangeEvent) => void;

export interface PlaceOrderRequest {
  readonly accountId: string;
  /** The idempotency key within the account; optional because orders placed by hand carry none. */
  readonly clientOrderId?: string | null;
  /** Exact contract name (`MNQZ6`) or contract id; roots and continuous symbols are resolved first. */
  readonly contract: string;
  readonly side: Side;
  readonly quantity: number;
  readonly type: OrderType;
  /** Limit price, for `limit`; ignored otherwise. */
  readonly price?: number;
  /** Trigger price, for `stop`; ignored otherwise. */
  readonly stopPrice?: number;
  readonly automated?: boolean;
}

/** A bracket level: an absolute price, or a positive distance in ticks from the entry's fill price. */
export type OsoLevel = { readonly price: number } | { readonly ticks: number };

export interface OsoBrackets {
  readonly takeProfit?: OsoLevel;
  readonly stopLoss?: OsoLevel;
}

export interface PlacedOso {
  readonly entry: ExchangeOrder;
  readonly takeProfit: ExchangeOrder | null;
  readonly stopLoss: ExchangeOrder | null;
}

export interface ModifyOrderChanges {
  readonly quantity: number;
  /** New limit price, for limit orders; kept when absent. */
  readonly price?: number;
  /** New trigger price, for stop orders; kept when absent. */
  readonly stopPrice?: number;
}

export interface PaperExchangeOptions {
  /** The exchange clock: front months and timestamps follow it. Defaults to the system clock. */
  readonly now?: () => Date;
  /** Seed of the random walk behind {@link PaperExchange.tick}. */
  readonly seed?: number;
  /** Starting prices by product root, over the built-in defaults. */
  readonly startPrices?: Readonly<Record<string, number>>;
}

/** Plausible starting prices, so a fresh exchange quotes every product without setup. */
const DEFAULT_START_PRICES: Readonly<Record<string, number>> = {
  ES: 6000,
  MES: 6000,
  NQ: 21500,
  MNQ: 21500,
  YM: 44000,
  MYM: 44000,
  RTY: 2200,
  M2K: 2200,
  CL: 70,
  MCL: 70,
  GC: 3300,
  MGC: 3300,
  SI: 32,
  '6E': 1.08,
  ZN: 110,
  ZB: 115,
};

const MONTH_CODES = 'FGHJKMNQUVXZ';
const PRODUCT_INDEX: ReadonlyMap<string, number> = new Map([...PRODUCTS.keys()].map((root, i) => [root, i]));
const ROOTS: readonly string[] = [...PRODUCTS.keys()];

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type OrderRecord = Mutable<ExchangeOrder>;
type PositionRecord = Mutable<ExchangePosition>;

const reject = (reason: ExchangeFailureReason, text: string): Result<never, ExchangeRejection> =>
  err({ reason, text });

/**
 * The exchange. Every operation on orders and positions names the account it acts for, and an order
 * of another account is reported as unknown and left untouched.
 */
export class PaperExchange {
  private readonly clock: () => Date;
  private readonly random: () => number;
  private readonly startPrices: Readonly<Record<string, number>>;
  private lastId = 0;
  private stamp = { ms: Number.NaN, iso: '' };

  private readonly accountsById = new Map<string, Mutable<ExchangeAccount>>();
  private readonly contractsById = new Map<string, ExchangeContract>();
  private readonly prices = new Map<string, number>();
  private readonly ordersById = new Map<string, OrderRecord>();
  private readonly ordersByAccount = new Map<string, OrderRecord[]>();
  private readonly byClientOrderId = new Map<string, Map<string, string>>();
  /** Working orders per contract id, in the order they started working (time priority). */
  private readonly workingByContract = new Map<string, Set<string>>();
  private readonly childrenOf = new Map<string, string[]>();
  private readonly positionsByKey = new Map<string, PositionRecord>();
  private readonly positionsByAccount = new Map<string, PositionRecord[]>();
  private readonly fillsByAccount = new Map<string, ExchangeFill[]>();
  /** Orders that just started working; they are matched against the current price before anything else. */
  private readonly arrivals: OrderRecord[] = [];

  private readonly listeners = new Set<ExchangeListener>();
  private readonly outbox: ExchangeEvent[] = [];
  private flushing = false;

  constructor(options: PaperExchangeOptions = {}) {
    this.clock = options.now ?? (() => new Date());
    this.random = mulberry32(options.seed ?? 1);
    this.startPrices = { ...DEFAULT_START_PRICES, ...options.startPrices };
  }

  /** The exchange clock. */
  now(): Date {
    return this.clock();
  }

  // ── accounts ──────────────────────────────────────────────────────────────────────────────────

  /** Open an account. A duplicate id is a bug in the caller and throws. */
  addAccount(input: { id: string; name: string; owner: string; active?: boolean }): ExchangeAccount {
    if (this.accountsById.has(input.id)) throw new Error(`account ${input.id} already exists`);
    const account = { id: input.id, name: input.name, owner: input.owner, active: input.active ?? true };
    this.accountsById.set(account.id, account);
    return { ...account };
  }

  /** Close or reopen an account. Throws for an unknown account (a bug in the caller). */
  setAccountActive(accountId: string, active: boolean): void {
    const account = this.accountsById.get(accountId);
    if (!account) throw new Error(`unknown account ${accountId}`);
    account.active = active;
  }

  /** The accounts a credential owns, in the order they were added. */
  accountsOf(owner: string): ExchangeAccount[] {
    return [...this.accountsById.values()].filter((a) => a.owner === owner).map((a) => ({ ...a }));
  }

  account(id: string): ExchangeAccount | null {
    const account = this.accountsById.get(id);
    return account ? { ...account } : null;
  }

  // ── contracts ─────────────────────────────────────────────────────────────────────────────────

  /**
   * Resolve a symbol as typed: a root (`MNQ`) or continuous symbol (`MNQ1!`, `CME_MINI:MNQ1!`) is the
   * front month at the exchange clock; an exact contract (`MNQZ6`, `MNQZ26`, `MNQZ2026`) is that
   * contract when its month is listed and it has not expired; anything else is null.
   */
  resolve(symbol: string): ExchangeContract | null {
    const form = parseSymbol(symbol);
    if (!form) return null;
    const product = PRODUCTS.get(form.root);
    if (!product) return null;
    const now = this.clock();
    if (form.kind !== 'contract') {
      const front = frontMonth(form.root, now);
      return this.contractFor(product, front.month, front.year);
    }
    if (!product.months.includes(form.month)) return null;
    const year = fullYear(form.year, now.getUTCFullYear());
    const contract = this.contractFor(product, form.month, year);
    return Date.parse(contract.expiration) > now.getTime() ? contract : null;
  }

  /** A contract by its id, expired or not (orders keep pointing at it); null when no such contract. */
  contractById(id: string): ExchangeContract | null {
    const cached = this.contractsById.get(id);
    if (cached) return cached;
    if (!/^\d{7,}$/.test(id)) return null;
    const n = Number(id);
    const root = ROOTS[Math.floor(n / 1_000_000) - 1];
    const product = root === undefined ? undefined : PRODUCTS.get(root);
    const rest = n % 1_000_000;
    const month = MONTH_CODES[(rest % 100) - 1];
    if (!product || month === undefined || !product.months.includes(month)) return null;
    const contract = this.contractFor(product, month, Math.floor(rest / 100));
    return contract.id === id ? contract : null;
  }

  // ── prices ────────────────────────────────────────────────────────────────────────────────────

  /** The current price of a contract (name, id, root or continuous symbol); null for an unknown symbol. */
  price(contract: string): number | null {
    const c = this.lookup(contract, true);
    return c ? this.marketPrice(c) : null;
  }

  /**
   * Move a contract's price (a root means its front month), rounded to the tick grid, and fill every
   * resting order the move reaches. An unknown symbol or a non-positive price is a bug and throws.
   */
  setPrice(contractOrRoot: string, price: number): void {
    const contract = this.lookup(contractOrRoot, true);
    if (!contract) throw new Error(`unknown contract ${contractOrRoot}`);
    if (!Number.isFinite(price) || price <= 0) throw new Error(`invalid price ${price}`);
    this.transact(() => this.movePrice(contract, roundToTick(price, contract.tickSize)));
  }

  /**
   * Advance the seeded random walk `steps` times: each step moves every quoted contract (or only the
   * given one) by -2..+2 ticks and fills what the move reaches.
   */
  tick(steps = 1, contractOrRoot?: string): void {
    let targets: ExchangeContract[];
    if (contractOrRoot === undefined) {
      targets = [...this.prices.keys()].map((id) => this.contractById(id)!);
    } else {
      const contract = this.lookup(contractOrRoot, true);
      if (!contract) throw new Error(`unknown contract ${contractOrRoot}`);
      targets = [contract];
    }
    this.transact(() => {
      for (let i = 0; i < steps; i++) {
        for (const contract of targets) {
          const delta = Math.floor(this.random() * 5) - 2;
          const next = roundToTick(this.marketPrice(contract) + delta * contract.tickSize, contract.tickSize);
          this.movePrice(contract, Math.max(contract.tickSize, next));
        }
      }
    });
  }

  // ── orders ────────────────────────────────────────────────────────────────────────────────────

  /**
   * Place an order. Market orders fill at the current price; a limit that is marketable on arrival
   * fills at the current price, otherwise it rests and fills at its limit price when the market
   * reaches it; a stop must lie beyond the market and fills at the market price once touched.
   * A client order id already used in the account returns that first order and places nothing.
   */
  placeOrder(request: PlaceOrderRequest): ExchangeResult<ExchangeOrder> {
    return this.transact(() => {
      const checked = this.checkPlacement(request);
      if (!checked.ok) return checked;
      if ('existing' in checked.value) return ok(snapshotOrder(checked.value.existing));
      const order = this.createOrder(request, checked.value.contract, {});
      this.startWorking(order);
      this.drainArrivals();
      return ok(snapshotOrder(order));
    });
  }

  /**
   * Place an entry with its bracket in one call (order-sends-order). The legs are created with the
   * entry, `pending` until it fills, then working; legs given in ticks are priced from the entry's
   * fill price. The legs are one-cancels-other. Absolute levels must lie on the profit side (take
   * profit) and the loss side (stop) of the entry's price: the market for a market entry, else its
   * limit or stop price.
   */
  placeOso(entry: PlaceOrderRequest, brackets: OsoBrackets): ExchangeResult<PlacedOso> {
    return this.transact(() => {
      const checked = this.checkPlacement(entry);
      if (!checked.ok) return checked;
      if ('existing' in checked.value) return ok(this.placedOso(checked.value.existing));
      const { contract } = checked.value;
      const reference =
        entry.type === 'limit'
          ? entry.price!
          : entry.type === 'stop'
            ? entry.stopPrice!
            : this.marketPrice(contract);
      const direction = entry.side === 'buy' ? 1 : -1;
      for (const [role, level] of [
        ['takeProfit', brackets.takeProfit],
        ['stopLoss', brackets.stopLoss],
      ] as const) {
        if (!level) continue;
        const problem = checkLevel(role, level, direction, reference, contract);
        if (problem) return reject('InvalidPrice', problem);
      }

      const order = this.createOrder(entry, contract, {});
      const legs = [brackets.takeProfit, brackets.stopLoss].filter((l) => l !== undefined).length;
      const ocoId = legs === 2 ? this.nextId() : null;
      const exit: Side = entry.side === 'buy' ? 'sell' : 'buy';
      const leg = (role: 'takeProfit' | 'stopLoss', level: OsoLevel): OrderRecord => {
        const absolute = 'price' in level ? level.price : null;
        return this.createOrder(
          {
            accountId: entry.accountId,
            contract: contract.id,
            side: exit,
            quantity: entry.quantity,
            type: role === 'takeProfit' ? 'limit' : 'stop',
            ...(absolute === null
              ? {}
              : role === 'takeProfit'
                ? { price: absolute }
                : { stopPrice: absolute }),
            automated: entry.automated ?? false,
          },
          contract,
          { parentId: order.id, ocoId, bracket: role, offsetTicks: 'ticks' in level ? level.ticks : null },
        );
      };
      if (brackets.takeProfit) leg('takeProfit', brackets.takeProfit);
      if (brackets.stopLoss) leg('stopLoss', brackets.stopLoss);
      this.startWorking(order);
      this.drainArrivals();
      return ok(this.placedOso(order));
    });
  }

  /**
   * Change a working or pending order's quantity and price. A limit moved through the market fills
   * at once; a stop moved to the wrong side of the market is refused. Pricing a fill-relative leg
   * makes it absolute. Resizing a resting entry resizes its pending legs.
   */
  modifyOrder(
    accountId: string,
    orderId: string,
    changes: ModifyOrderChanges,
  ): ExchangeResult<ExchangeOrder> {
    return this.transact(() => {
      const found = this.ownOrder(accountId, orderId);
      if (!found.ok) return found;
      const order = found.value;
      if (!this.accountsById.get(accountId)!.active)
        return reject('AccountClosed', `account ${accountId} is closed`);
      if (order.status !== 'working' && order.status !== 'pending') {
        return reject('OrderNotWorking', `order ${orderId} is ${order.status}`);
      }
      if (!isPositiveInteger(changes.quantity)) {
        return reject('InvalidQuantity', `quantity must be a positive integer, got ${changes.quantity}`);
      }
      const contract = this.contractById(order.contractId)!;
      let price = order.price;
      let stopPrice = order.stopPrice;
      if (order.type === 'limit' && changes.price !== undefined) {
        const problem = checkPrice(changes.price, contract);
        if (problem) return reject('InvalidPrice', problem);
        price = changes.price;
      }
      if (order.type === 'stop' && changes.stopPrice !== undefined) {
        const problem =
          checkPrice(changes.stopPrice, contract) ??
          (order.status === 'working'
            ? checkStopSide(order.side, changes.stopPrice, this.marketPrice(contract))
            : null);
        if (problem) return reject('InvalidPrice', problem);
        stopPrice = changes.stopPrice;
      }
      const repriced = price !== order.price || stopPrice !== order.stopPrice;
      order.quantity = changes.quantity;
      order.price = price;
      order.stopPrice = stopPrice;
      if (repriced) order.offsetTicks = null;
      order.updatedAt = this.timestamp();
      this.emitOrder(order, 'Updated');
      // Pending legs protect exactly what the entry will fill, so they follow its quantity.
      for (const childId of this.childrenOf.get(order.id) ?? []) {
        const leg = this.ordersById.get(childId)!;
        if (leg.status !== 'pending' || leg.quantity === order.quantity) continue;
        leg.quantity = order.quantity;
        leg.updatedAt = order.updatedAt;
        this.emitOrder(leg, 'Updated');
      }
      if (order.status === 'working') {
        this.arrivals.push(order);
        this.drainArrivals();
      }
      return ok(snapshotOrder(order));
    });
  }

  /**
   * Cancel a working or pending order. Cancelling an entry cancels its pending legs; cancelling one
   * leg leaves the other working.
   */
  cancelOrder(accountId: string, orderId: string): ExchangeResult<ExchangeOrder> {
    return this.transact(() => {
      const found = this.ownOrder(accountId, orderId);
      if (!found.ok) return found;
      const order = found.value;
      if (order.status !== 'working' && order.status !== 'pending') {
        return reject('OrderNotWorking', `order ${orderId} is ${order.status}`);
      }
      this.cancel(order);
      for (const childId of this.childrenOf.get(order.id) ?? []) {
        const child = this.ordersById.get(childId)!;
        if (child.status === 'pending') this.cancel(child);
      }
      return ok(snapshotOrder(order));
    });
  }

  /**
   * Close the account's net position in a contract with a market order. Nothing else is cancelled:
   * the caller cancels working orders first. Null when the position is already flat. A client order
   * id already used in the account returns that first order.
   */
  liquidate(
    accountId: string,
    contract: string,
    clientOrderId: string,
  ): ExchangeResult<ExchangeOrder | null> {
    return this.transact(() => {
      if (!this.accountsById.has(accountId)) return reject('UnknownAccount', `unknown account ${accountId}`);
      const existing = this.existingByClientOrderId(accountId, clientOrderId);
      if (existing) return ok(snapshotOrder(existing));
      const c = this.lookup(contract, false);
      if (!c) return reject('InvalidContract', `unknown contract ${contract}`);
      const position = this.positionsByKey.get(positionKey(accountId, c.id));
      if (!position || position.netQuantity === 0) return ok(null);
      const order = this.createOrder(
        {
          accountId,
          clientOrderId,
          contract: c.id,
          side: position.netQuantity > 0 ? 'sell' : 'buy',
          quantity: Math.abs(position.netQuantity),
          type: 'market',
          automated: true,
        },
        c,
        {},
      );
      this.startWorking(order);
      this.drainArrivals();
      return ok(snapshotOrder(order));
    });
  }

  /** Every order of the account, whatever its status, oldest first. */
  orders(accountId: string): ExchangeOrder[] {
    return (this.ordersByAccount.get(accountId) ?? []).map(snapshotOrder);
  }

  /** Every order of every account, oldest first (what Tradovate's `order/list` shows a privileged user). */
  allOrders(): ExchangeOrder[] {
    return [...this.ordersById.values()].map(snapshotOrder);
  }

  /** One order of the account; null when it does not exist or belongs to another account. */
  order(accountId: string, orderId: string): ExchangeOrder | null {
    const found = this.ownOrder(accountId, orderId);
    return found.ok ? snapshotOrder(found.value) : null;
  }

  /** The account's positions, including closed ones at zero. */
  positions(accountId: string): ExchangePosition[] {
    return (this.positionsByAccount.get(accountId) ?? []).map((p) => ({ ...p }));
  }

  /** The order the account placed with this client order id, or null. */
  findByClientOrderId(accountId: string, clientOrderId: string): ExchangeOrder | null {
    const order = this.existingByClientOrderId(accountId, clientOrderId);
    return order ? snapshotOrder(order) : null;
  }

  /** The account's fills, oldest first. */
  fills(accountId: string): ExchangeFill[] {
    return [...(this.fillsByAccount.get(accountId) ?? [])];
  }

  // ── events ────────────────────────────────────────────────────────────────────────────────────

  /**
   * Receive every change after it happened. Events of one operation are delivered once the operation
   * is complete, so a listener sees consistent state and may call back into the exchange. A listener
   * that throws is a bug: the other listeners still get the event and the error is rethrown to the
   * caller of the operation. Returns the unsubscribe function.
   */
  subscribe(listener: ExchangeListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  // ── internals ─────────────────────────────────────────────────────────────────────────────────

  private nextId(): string {
    this.lastId += 1;
    return String(this.lastId);
  }

  /** The exchange clock as an ISO string (formatted once per millisecond: events come in bursts). */
  timestamp(): string {
    const ms = this.clock().getTime();
    if (ms !== this.stamp.ms) this.stamp = { ms, iso: new Date(ms).toISOString() };
    return this.stamp.iso;
  }

  /** Run a mutation, then deliver the events it produced (unless an outer operation is delivering). */
  private transact<T>(mutation: () => T): T {
    try {
      return mutation();
    } finally {
      this.flush();
    }
  }

  private flush(): void {
    if (this.flushing) return;
    this.flushing = true;
    const errors: unknown[] = [];
    try {
      for (let event = this.outbox.shift(); event !== undefined; event = this.outbox.shift()) {
        for (const listener of [...this.listeners]) {
          try {
            listener(event);
          } catch (error) {
            errors.push(error);
          }
        }
      }
    } finally {
      this.flushing = false;
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, 'exchange listeners failed');
  }

  private contractFor(product: Product, month: string, year: number): ExchangeContract {
    const id = String(
      (PRODUCT_INDEX.get(product.root)! + 1) * 1_000_000 + year * 100 + MONTH_CODES.indexOf(month) + 1,
    );
    const cached = this.contractsById.get(id);
    if (cached) return cached;
    const contract: ExchangeContract = Object.freeze({
      id,
      name: `${product.root}${month}${year % 10}`,
      root: product.root,
      tickSize: product.tickSize,
      pointValue: product.pointValue,
      month,
      year,
      expiration: thirdFriday(year, MONTH_CODES.indexOf(month)).toISOString(),
    });
    this.contractsById.set(id, contract);
    return contract;
  }

  /**
   * A contract named by id or exact name; with `loose`, roots and continuous symbols too. Orders
   * name exact contracts, as Tradovate's order endpoints do; price controls accept roots.
   */
  private lookup(symbol: string, loose: boolean): ExchangeContract | null {
    if (/^\d+$/.test(symbol)) return this.contractById(symbol);
    if (!loose && parseSymbol(symbol)?.kind !== 'contract') return null;
    return this.resolve(symbol);
  }

  private marketPrice(contract: ExchangeContract): number {
    let price = this.prices.get(contract.id);
    if (price === undefined) {
      price = roundToTick(this.startPrices[contract.root] ?? 100, contract.tickSize);
      this.prices.set(contract.id, price);
    }
    return price;
  }

  private checkPlacement(
    request: PlaceOrderRequest,
  ): ExchangeResult<{ existing: OrderRecord } | { contract: ExchangeContract }> {
    const account = this.accountsById.get(request.accountId);
    if (!account) return reject('UnknownAccount', `unknown account ${request.accountId}`);
    if (request.clientOrderId) {
      const existing = this.existingByClientOrderId(request.accountId, request.clientOrderId);
      if (existing) return ok({ existing });
    }
    if (!account.active) return reject('AccountClosed', `account ${account.name} is closed`);
    const contract = this.lookup(request.contract, false);
    if (!contract) return reject('InvalidContract', `unknown or expired contract ${request.contract}`);
    if (!isPositiveInteger(request.quantity)) {
      return reject('InvalidQuantity', `quantity must be a positive integer, got ${request.quantity}`);
    }
    if (request.type === 'limit') {
      const problem =
        request.price === undefined ? 'a limit order needs a price' : checkPrice(request.price, contract);
      if (problem) return reject('InvalidPrice', problem);
    } else if (request.type === 'stop') {
      const stop = request.stopPrice;
      const problem =
        stop === undefined
          ? 'a stop order needs a stop price'
          : (checkPrice(stop, contract) ?? checkStopSide(request.side, stop, this.marketPrice(contract)));
      if (problem) return reject('InvalidPrice', problem);
    }
    return ok({ contract });
  }

  private existingByClientOrderId(accountId: string, clientOrderId: string): OrderRecord | null {
    const id = this.byClientOrderId.get(accountId)?.get(clientOrderId);
    return id === undefined ? null : this.ordersById.get(id)!;
  }

  private ownOrder(accountId: string, orderId: string): ExchangeResult<OrderRecord> {
    const order = this.ordersById.get(orderId);
    // Another account's order is indistinguishable from a missing one, so nothing leaks across accounts.
    if (!order || order.accountId !== accountId)
      return reject('UnknownOrder', `no order ${orderId} in account ${accountId}`);
    return ok(order);
  }

  /** Record a new order (pending when it has a parent) and announce it. */
  private createOrder(
    request: PlaceOrderRequest,
    contract: ExchangeContract,
    link: {
      parentId?: string;
      ocoId?: string | null;
      bracket?: 'takeProfit' | 'stopLoss';
      offsetTicks?: number | null;
    },
  ): OrderRecord {
    const now = this.timestamp();
    const order: OrderRecord = {
      id: this.nextId(),
      accountId: request.accountId,
      clientOrderId: request.clientOrderId ?? null,
      contractId: contract.id,
      contract: contract.name,
      side: request.side,
      type: request.type,
      quantity: request.quantity,
      filledQuantity: 0,
      price: request.type === 'limit' ? (request.price ?? null) : null,
      stopPrice: request.type === 'stop' ? (request.stopPrice ?? null) : null,
      status: link.parentId ? 'pending' : 'working',
      averageFillPrice: null,
      parentId: link.parentId ?? null,
      ocoId: link.ocoId ?? null,
      bracket: link.bracket ?? null,
      offsetTicks: link.offsetTicks ?? null,
      automated: request.automated ?? false,
      createdAt: now,
      updatedAt: now,
    };
    this.ordersById.set(order.id, order);
    listIn(this.ordersByAccount, order.accountId).push(order);
    if (order.clientOrderId) {
      let index = this.byClientOrderId.get(order.accountId);
      if (!index) {
        index = new Map();
        this.byClientOrderId.set(order.accountId, index);
      }
      index.set(order.clientOrderId, order.id);
    }
    if (order.parentId) listIn(this.childrenOf, order.parentId).push(order.id);
    this.emitOrder(order, 'Created');
    return order;
  }

  /** Put a created order on the book and queue it for matching against the current price. */
  private startWorking(order: OrderRecord): void {
    let working = this.workingByContract.get(order.contractId);
    if (!working) {
      working = new Set();
      this.workingByContract.set(order.contractId, working);
    }
    working.add(order.id);
    this.arrivals.push(order);
  }

  /**
   * Match orders that just started working. An arriving limit that is marketable fills at the market
   * price (never worse than its limit); fills may activate bracket legs, which arrive in turn.
   */
  private drainArrivals(): void {
    for (let order = this.arrivals.shift(); order !== undefined; order = this.arrivals.shift()) {
      if (order.status !== 'working') continue;
      const market = this.marketPrice(this.contractById(order.contractId)!);
      if (triggered(order, market)) this.fill(order, market);
    }
  }

  /** Set a new price and fill resting orders it reaches: limits at their limit price, stops at the market. */
  private movePrice(contract: ExchangeContract, price: number): void {
    this.prices.set(contract.id, price);
    const working = [...(this.workingByContract.get(contract.id) ?? [])];
    for (const id of working) {
      const order = this.ordersById.get(id)!;
      if (order.status !== 'working' || !triggered(order, price)) continue;
      this.fill(order, order.type === 'limit' ? order.price! : price);
    }
    this.drainArrivals();
  }

  private fill(order: OrderRecord, price: number): void {
    const now = this.timestamp();
    this.workingByContract.get(order.contractId)?.delete(order.id);
    order.status = 'filled';
    order.filledQuantity = order.quantity;
    order.averageFillPrice = price;
    order.updatedAt = now;
    this.emitOrder(order, 'Updated');

    const fill: ExchangeFill = Object.freeze({
      id: this.nextId(),
      orderId: order.id,
      accountId: order.accountId,
      contractId: order.contractId,
      contract: order.contract,
      side: order.side,
      quantity: order.quantity,
      price,
      timestamp: now,
    });
    listIn(this.fillsByAccount, order.accountId).push(fill);
    this.outbox.push({ type: 'fill', accountId: order.accountId, event: 'Created', entity: fill });
    this.applyToPosition(order, price, now);

    const contract = this.contractById(order.contractId)!;
    for (const childId of this.childrenOf.get(order.id) ?? []) {
      const leg = this.ordersById.get(childId)!;
      if (leg.status !== 'pending') continue;
      if (leg.offsetTicks !== null) {
        // Legs given in ticks sit on the profit side (take profit) or loss side (stop) of the fill.
        const direction = (order.side === 'buy' ? 1 : -1) * (leg.bracket === 'takeProfit' ? 1 : -1);
        const level = roundToTick(price + direction * leg.offsetTicks * contract.tickSize, contract.tickSize);
        if (leg.type === 'limit') leg.price = level;
        else leg.stopPrice = level;
      }
      leg.status = 'working';
      leg.updatedAt = now;
      this.emitOrder(leg, 'Updated');
      this.startWorking(leg);
    }
    if (order.ocoId !== null) {
      for (const siblingId of this.childrenOf.get(order.parentId ?? '') ?? []) {
        const sibling = this.ordersById.get(siblingId)!;
        if (sibling.id !== order.id && sibling.ocoId === order.ocoId) this.cancel(sibling);
      }
    }
  }

  private cancel(order: OrderRecord): void {
    if (order.status !== 'working' && order.status !== 'pending') return;
    this.workingByContract.get(order.contractId)?.delete(order.id);
    order.status = 'canceled';
    order.updatedAt = this.timestamp();
    this.emitOrder(order, 'Updated');
  }

  private applyToPosition(order: OrderRecord, price: number, now: string): void {
    const key = positionKey(order.accountId, order.contractId);
    let position = this.positionsByKey.get(key);
    const created = position === undefined;
    if (!position) {
      position = {
        id: this.nextId(),
        accountId: order.accountId,
        contractId: order.contractId,
        contract: order.contract,
        netQuantity: 0,
        averagePrice: null,
        bought: 0,
        boughtValue: 0,
        sold: 0,
        soldValue: 0,
        realizedPnl: 0,
        timestamp: now,
      };
      this.positionsByKey.set(key, position);
      listIn(this.positionsByAccount, order.accountId).push(position);
    }
    const signed = order.side === 'buy' ? order.quantity : -order.quantity;
    const next = nextPosition(position.netQuantity, position.averagePrice, signed, price);
    const pointValue = this.contractById(order.contractId)!.pointValue;
    position.netQuantity = next.netQuantity;
    position.averagePrice = next.averagePrice;
    position.realizedPnl = clean(position.realizedPnl + next.realizedPoints * pointValue);
    if (order.side === 'buy') {
      position.bought += order.quantity;
      position.boughtValue = clean(position.boughtValue + order.quantity * price);
    } else {
      position.sold += order.quantity;
      position.soldValue = clean(position.soldValue + order.quantity * price);
    }
    position.timestamp = now;
    this.outbox.push({
      type: 'position',
      accountId: order.accountId,
      event: created ? 'Created' : 'Updated',
      entity: { ...position },
    });
  }

  private emitOrder(order: OrderRecord, event: ExchangeEventKind): void {
    this.outbox.push({ type: 'order', accountId: order.accountId, event, entity: snapshotOrder(order) });
  }

  private placedOso(entry: OrderRecord): PlacedOso {
    let takeProfit: ExchangeOrder | null = null;
    let stopLoss: ExchangeOrder | null = null;
    for (const childId of this.childrenOf.get(entry.id) ?? []) {
      const leg = this.ordersById.get(childId)!;
      if (leg.bracket === 'takeProfit') takeProfit = snapshotOrder(leg);
      if (leg.bracket === 'stopLoss') stopLoss = snapshotOrder(leg);
    }
    return { entry: snapshotOrder(entry), takeProfit, stopLoss };
  }
}

/**
 * Net position after a fill. Adding averages the prices by quantity; reducing keeps the average and
 * realizes the difference; a fill through zero realizes the whole old position and opens the rest at
 * the fill price.
 */
export function nextPosition(
  netQuantity: number,
  averagePrice: number | null,
  signedQuantity: number,
  price: number,
): { netQuantity: number; averagePrice: number | null; realizedPoints: number } {
  const net = netQuantity + signedQuantity;
  if (netQuantity === 0 || averagePrice === null) {
    return { netQuantity: net, averagePrice: net === 0 ? null : price, realizedPoints: 0 };
  }
  if (Math.sign(signedQuantity) === Math.sign(netQuantity)) {
    const total = Math.abs(net);
    const average = (Math.abs(netQuantity) * averagePrice + Math.abs(signedQuantity) * price) / total;
    return { netQuantity: net, averagePrice: clean(average), realizedPoints: 0 };
  }
  const closed = Math.min(Math.abs(netQuantity), Math.abs(signedQuantity));
  const realizedPoints = clean(closed * (price - averagePrice) * Math.sign(netQuantity));
  if (net === 0) return { netQuantity: 0, averagePrice: null, realizedPoints };
  if (Math.sign(net) === Math.sign(netQuantity)) return { netQuantity: net, averagePrice, realizedPoints };
  return { netQuantity: net, averagePrice: price, realizedPoints };
}

function triggered(order: OrderRecord, market: number): boolean {
  switch (order.type) {
    case 'market':
      return true;
    case 'limit':
      return order.price !== null && (order.side === 'buy' ? market <= order.price : market >= order.price);
    case 'stop':
      return (
        order.stopPrice !== null &&
        (order.side === 'buy' ? market >= order.stopPrice : market <= order.stopPrice)
      );
  }
}

function checkPrice(price: number, contract: ExchangeContract): string | null {
  if (!Number.isFinite(price) || price <= 0) return `price must be positive, got ${price}`;
  const ticks = price / contract.tickSize;
  if (Math.abs(ticks - Math.round(ticks)) > 1e-6) {
    return `price ${price} is not a multiple of the tick size ${contract.tickSize} of ${contract.name}`;
  }
  return null;
}

function checkStopSide(side: Side, stopPrice: number, market: number): string | null {
  if (side === 'buy' && stopPrice <= market)
    return `a buy stop at ${stopPrice} must be above the market ${market}`;
  if (side === 'sell' && stopPrice >= market)
    return `a sell stop at ${stopPrice} must be below the market ${market}`;
  return null;
}

/** `direction` is +1 for a long entry, -1 for a short one. */
function checkLevel(
  role: 'takeProfit' | 'stopLoss',
  level: OsoLevel,
  direction: number,
  reference: number,
  contract: ExchangeContract,
): string | null {
  if ('ticks' in level) {
    return isPositiveInteger(level.ticks)
      ? null
      : `a bracket offset must be a positive number of ticks, got ${level.ticks}`;
  }
  const problem = checkPrice(level.price, contract);
  if (problem) return problem;
  const distance = (level.price - reference) * direction;
  if (role === 'takeProfit' && distance <= 0) {
    return `take profit ${level.price} must be ${direction > 0 ? 'above' : 'below'} the entry ${reference}`;
  }
  if (role === 'stopLoss' && distance >= 0) {
    return `stop loss ${level.price} must be ${direction > 0 ? 'below' : 'above'} the entry ${reference}`;
  }
  return null;
}

function isPositiveInteger(n: number): boolean {
  return Number.isInteger(n) && n > 0;
}

/**
 * The full year of a typed contract year: four digits as is, two digits in this century, one digit
 * the first matching year from last year on (so `Z5` in 2026 is the expired 2025 contract, not 2035).
 */
function fullYear(typed: number, currentYear: number): number {
  if (typed >= 1000) return typed;
  if (typed >= 10) return 2000 + typed;
  let year = currentYear - 1;
  while (year % 10 !== typed) year++;
  return year;
}

/** The same expiry approximation as `frontMonth` in domain/symbols.ts, which does not export it. */
function thirdFriday(year: number, monthIndex: number): Date {
  const first = new Date(Date.UTC(year, monthIndex, 1));
  const offset = (5 - first.getUTCDay() + 7) % 7;
  return new Date(Date.UTC(year, monthIndex, 1 + offset + 14));
}

function positionKey(accountId: string, contractId: string): string {
  return `${accountId}\u0000${contractId}`;
}

function listIn<T>(map: Map<string, T[]>, key: string): T[] {
  let list = map.get(key);
  if (!list) {
    list = [];
    map.set(key, list);
  }
  return list;
}

function snapshotOrder(order: OrderRecord): ExchangeOrder {
  return { ...order };
}

/** Drop binary floating-point noise from sums of prices (0.1 + 0.2 style), keeping real precision. */
function clean(n: number): number {
  return Number(n.toFixed(9));
}

/** A small, fast, seedable PRNG: the same seed gives the same price path on every run. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
