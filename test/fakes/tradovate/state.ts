/**
 * The trading state as Tradovate shows it, kept in step with the paper exchange. The exchange owns
 * matching, fills and positions; this layer translates Tradovate's order requests into exchange
 * calls and the exchange's events into Tradovate's entities (order, orderVersion, command,
 * commandReport, executionReport, fill, position, orderStrategy, cashBalance), whose changes the
 * WebSocket layer streams as `props` events.
 */
import type {
  ExchangeContract,
  ExchangeEvent,
  ExchangeFill,
  ExchangeOrder,
  ExchangePosition,
  ExchangeRejection,
  OsoBrackets,
  PaperExchange,
} from '../../../src/brokers/paper/exchange.js';
import { frontMonth, PRODUCTS, parseSymbol } from '../../../src/domain/symbols.js';
import type { Session } from './auth.js';
import {
  type Action,
  type EntityStore,
  type EntityType,
  IdTable,
  type OrderEntity,
  type OrderStrategyEntity,
  type OrderType,
  type OrderVersionEntity,
  type OrdStatus,
  PLURAL,
  PRODUCT_IDS,
  tradeDate,
  type Viewer,
} from './entities.js';
import type { ApiResponse, SimUserOption } from './types.js';

type Body = Record<string, unknown>;

/** Who places an order: the token's user and session. */
export interface Actor {
  readonly user: SimUserOption;
  readonly session: Session;
}

interface OrderMeta {
  readonly clOrdId?: string;
  readonly isAutomated: boolean;
  readonly text?: string;
  readonly timeInForce: string;
  readonly customTag50?: string;
  readonly senderId: number;
}

/** What the handler running an exchange call knows that the exchange's events do not carry. */
interface Placement {
  readonly entry: OrderMeta;
  readonly takeProfit?: OrderMeta;
  readonly stopLoss?: OrderMeta;
  /** Set for `startorderstrategy`: its legs stay invisible until the entry fills, as Tradovate's do. */
  readonly strategy?: {
    readonly id: number;
    readonly params: string;
    readonly uuid?: string;
    readonly customTag50?: string;
  };
}

interface CommandContext {
  readonly orderId: number;
  readonly commandId: number;
  readonly kind: 'Modify' | 'Cancel';
  readonly meta: OrderMeta;
  versioned: boolean;
}

interface HiddenLeg {
  readonly meta: OrderMeta;
  readonly strategyId: number;
}

const STARTING_CASH = 50_000;
const MONTH_CODES = 'FGHJKMNQUVXZ';
const ROLL_MS = 7 * 86_400_000;

const ORD_STATUS: Readonly<Record<ExchangeOrder['status'], OrdStatus>> = {
  // Tradovate shows bracket legs waiting for their entry as Suspended.
  pending: 'Suspended',
  working: 'Working',
  filled: 'Filled',
  canceled: 'Canceled',
  rejected: 'Rejected',
};

const ORDER_TYPE: Readonly<Record<ExchangeOrder['type'], OrderType>> = {
  market: 'Market',
  limit: 'Limit',
  stop: 'Stop',
};

const EXCHANGE_TYPE: Readonly<Record<string, ExchangeOrder['type']>> = {
  Market: 'market',
  Limit: 'limit',
  Stop: 'stop',
};

/** Exchange refusals in Tradovate's `FailureReason` vocabulary. */
const FAILURE_REASON: Readonly<Record<ExchangeRejection['reason'], string>> = {
  InvalidContract: 'InvalidContract',
  InvalidPrice: 'InvalidPrice',
  InvalidQuantity: 'UnknownReason',
  AccountClosed: 'AccountClosed',
  UnknownAccount: 'Unauthorized',
  UnknownOrder: 'UnknownReason',
  OrderNotWorking: 'TooLate',
};

const ok = (body: unknown): ApiResponse => ({ status: 200, body });
const failure = (failureReason: string, failureText: string): ApiResponse =>
  ok({ failureReason, failureText });
const badRequest = (text: string): ApiResponse => ({ status: 400, body: text });
const DENIED = failure('Unauthorized', 'Access is denied');

export class TradovateState {
  private placement: Placement | null = null;
  private command: CommandContext | null = null;
  /** The `New` command of each order, which its fills and reports refer to. */
  private readonly newCommandOf = new IdTable<number>();
  private readonly latestVersionOf = new IdTable<number>();
  private readonly hiddenLegs = new Map<string, HiddenLeg>();
  private readonly strategyOf = new IdTable<number>();
  /** Order ids of each strategy, entry first. */
  private readonly strategyOrders = new IdTable<number[]>();
  private readonly interrupting = new Set<number>();
  private readonly cashBalanceOf = new Map<number, number>();
  private reportSeq = 0;
  private liquidationSeq = 0;

  constructor(
    readonly store: EntityStore,
    readonly exchange: PaperExchange,
    private readonly users: readonly SimUserOption[],
  ) {
    const now = exchange.now().toISOString();
    for (const user of users) {
      store.put('user', {
        id: user.userId,
        name: user.name,
        timestamp: now,
        email: user.email ?? `${user.name.toLowerCase()}@example.test`,
        status: 'Active',
        professional: false,
      });
      for (const a of user.accounts) {
        store.put('account', {
          id: a.id,
          name: a.name,
          userId: user.userId,
          accountType: 'Customer',
          active: true,
          clearingHouseId: 2,
          riskCategoryId: 2,
          autoLiqProfileId: 2,
          marginAccountType: 'Speculator',
          legalStatus: 'Individual',
          archived: false,
          timestamp: now,
        });
        if (!exchange.account(String(a.id))) {
          exchange.addAccount({ id: String(a.id), name: a.name, owner: user.name });
        }
        const cashId = store.nextId('cashBalance');
        this.cashBalanceOf.set(a.id, cashId);
        store.put('cashBalance', {
          id: cashId,
          accountId: a.id,
          timestamp: now,
          tradeDate: tradeDate(Date.parse(now)),
          currencyId: 1,
          amount: STARTING_CASH,
          realizedPnL: 0,
          weekRealizedPnL: 0,
        });
      }
    }
    this.seedContracts(4);
    exchange.subscribe((event) => this.onExchangeEvent(event));
  }

  viewer(user: SimUserOption): Viewer {
    return { userId: user.userId, accountIds: new Set(user.accounts.map((a) => a.id)) };
  }

  // ── contracts ───────────────────────────────────────────────────────────────────────────────

  /** `contract/find?name=`: exact contract names only (`MNQZ6`), as Tradovate names them. */
  contractByName(name: string): Record<string, unknown> | undefined {
    if (parseSymbol(name)?.kind !== 'contract') return undefined;
    const c = this.exchange.resolve(name);
    if (!c || c.name !== name.trim().toUpperCase()) return undefined;
    return { ...this.ensureContract(c) };
  }

  /** Makes sure a contract the exchange knows is listed for `contract/item` and syncs. */
  contractById(id: number): void {
    const c = this.exchange.contractById(String(id));
    if (c) this.ensureContract(c);
  }

  // ── orders ──────────────────────────────────────────────────────────────────────────────────

  /** `order/placeorder`. */
  placeOrder(actor: Actor, body: Body): ApiResponse {
    const checked = this.checkEntry(actor, body);
    if ('status' in checked) return checked;
    const { accountId, contract, side, quantity, type, price, stopPrice } = checked;
    const result = this.withPlacement({ entry: this.meta(actor, body) }, () =>
      this.exchange.placeOrder({
        accountId: String(accountId),
        clientOrderId: str(body.clOrdId) ?? null,
        contract: contract.id,
        side,
        quantity,
        type,
        ...(price === undefined ? {} : { price }),
        ...(stopPrice === undefined ? {} : { stopPrice }),
        automated: body.isAutomated === true,
      }),
    );
    if (!result.ok) return rejection(result.error);
    return ok({ orderId: Number(result.value.id) });
  }

  /** `order/placeoso`: an entry with one or two absolute brackets (a Limit take-profit, a Stop stop-loss). */
  placeOso(actor: Actor, body: Body): ApiResponse {
    const checked = this.checkEntry(actor, body);
    if ('status' in checked) return checked;
    const { accountId, contract, side, quantity, type, price, stopPrice } = checked;
    const raw = [body.bracket1, body.bracket2].filter((b) => b !== undefined && b !== null);
    if (raw.length === 0) return badRequest('bracket1 is required');
    const brackets: { -readonly [K in keyof OsoBrackets]: OsoBrackets[K] } = {};
    const meta: { takeProfit?: OrderMeta; stopLoss?: OrderMeta } = {};
    const roles: ('takeProfit' | 'stopLoss')[] = [];
    const exitAction = side === 'buy' ? 'Sell' : 'Buy';
    for (const b of raw) {
      if (typeof b !== 'object') return badRequest('brackets must be objects');
      const bracket = b as Body;
      if (bracket.action !== exitAction) {
        return failure('UnknownReason', `A bracket of a ${body.action} entry must be a ${exitAction}`);
      }
      const role =
        bracket.orderType === 'Limit' ? 'takeProfit' : bracket.orderType === 'Stop' ? 'stopLoss' : null;
      if (role === null) {
        return failure(
          'Unsupported',
          `Bracket order type ${String(bracket.orderType)} is not supported here`,
        );
      }
      if (brackets[role]) {
        return failure('Unsupported', 'Two brackets of the same type are not supported here');
      }
      const level = num(role === 'takeProfit' ? bracket.price : bracket.stopPrice);
      if (level === undefined) {
        return failure('InvalidPrice', `The ${bracket.orderType} bracket needs a price`);
      }
      brackets[role] = { price: level };
      meta[role] = { ...this.meta(actor, bracket), isAutomated: body.isAutomated === true };
      roles.push(role);
    }
    const result = this.withPlacement({ entry: this.meta(actor, body), ...meta }, () =>
      this.exchange.placeOso(
        {
          accountId: String(accountId),
          clientOrderId: str(body.clOrdId) ?? null,
          contract: contract.id,
          side,
          quantity,
          type,
          ...(price === undefined ? {} : { price }),
          ...(stopPrice === undefined ? {} : { stopPrice }),
          automated: body.isAutomated === true,
        },
        brackets,
      ),
    );
    if (!result.ok) return rejection(result.error);
    const placed = result.value;
    const idOf = (role: 'takeProfit' | 'stopLoss') => {
      const leg = role === 'takeProfit' ? placed.takeProfit : placed.stopLoss;
      return leg ? Number(leg.id) : undefined;
    };
    const response: Record<string, number> = { orderId: Number(placed.entry.id) };
    const oso1 = idOf(roles[0]!);
    if (oso1 !== undefined) response.oso1Id = oso1;
    const oso2 = roles[1] ? idOf(roles[1]) : undefined;
    if (oso2 !== undefined) response.oso2Id = oso2;
    return ok(response);
  }

  /** `order/modifyorder`: quantity and prices; the order type cannot change here. */
  modifyOrder(actor: Actor, body: Body): ApiResponse {
    const orderId = num(body.orderId);
    const orderQty = num(body.orderQty);
    if (orderId === undefined || orderQty === undefined || typeof body.orderType !== 'string') {
      return badRequest('orderId, orderQty and orderType are required');
    }
    const found = this.ownOrder(actor, orderId);
    if ('status' in found) return found;
    const version = this.store.get('orderVersion', this.latestVersionOf.get(orderId)!)!;
    if (body.orderType !== version.orderType) {
      return failure(
        'Unsupported',
        `Changing a ${version.orderType} order to ${body.orderType} is not supported here`,
      );
    }
    const meta = this.meta(actor, body);
    const commandId = this.putCommand(found, 'Modify', meta);
    this.command = { orderId, commandId, kind: 'Modify', meta, versioned: false };
    let result: ReturnType<PaperExchange['modifyOrder']>;
    try {
      const price = num(body.price);
      const stopPrice = num(body.stopPrice);
      result = this.exchange.modifyOrder(String(found.accountId), String(orderId), {
        quantity: orderQty,
        ...(price === undefined ? {} : { price }),
        ...(stopPrice === undefined ? {} : { stopPrice }),
      });
    } finally {
      this.command = null;
    }
    return this.commandOutcome(commandId, found, result);
  }

  /** `order/cancelorder`. */
  cancelOrder(actor: Actor, body: Body): ApiResponse {
    const orderId = num(body.orderId);
    if (orderId === undefined) return badRequest('orderId is required');
    const found = this.ownOrder(actor, orderId);
    if ('status' in found) return found;
    const meta = this.meta(actor, body);
    const commandId = this.putCommand(found, 'Cancel', meta);
    this.command = { orderId, commandId, kind: 'Cancel', meta, versioned: true };
    let result: ReturnType<PaperExchange['cancelOrder']>;
    try {
      result = this.exchange.cancelOrder(String(found.accountId), String(orderId));
    } finally {
      this.command = null;
    }
    return this.commandOutcome(commandId, found, result);
  }

  /**
   * `order/liquidateposition`: cancels the account's working orders in the contract, then closes the
   * position at market (Tradovate's "cancel orders for a contract and close that position").
   */
  liquidatePosition(actor: Actor, body: Body): ApiResponse {
    const accountId = num(body.accountId);
    const contractId = num(body.contractId);
    if (accountId === undefined || contractId === undefined) {
      return badRequest('accountId and contractId are required');
    }
    if (!this.owns(actor, accountId)) return DENIED;
    const contract = this.exchange.contractById(String(contractId));
    if (!contract) return failure('InvalidContract', `Unknown contract ${contractId}`);
    const account = String(accountId);
    for (const o of this.exchange.orders(account)) {
      if (o.contractId === contract.id && o.status === 'working') this.exchange.cancelOrder(account, o.id);
    }
    const meta: OrderMeta = { isAutomated: true, timeInForce: 'Day', senderId: actor.user.userId };
    const result = this.withPlacement({ entry: meta }, () =>
      this.exchange.liquidate(account, contract.id, `liquidation-${++this.liquidationSeq}`),
    );
    if (!result.ok) return rejection(result.error);
    if (result.value === null) return failure('UnknownReason', 'There is no position to liquidate');
    return ok({ orderId: Number(result.value.id) });
  }

  /**
   * `orderStrategy/startorderstrategy` with type 2 (brackets): `params` is a JSON string of
   * `{entryVersion, brackets:[{qty, profitTarget, stopLoss}]}`, the bracket levels signed price
   * offsets from the entry's fill (positive above it). One bracket level per strategy is modelled.
   */
  startOrderStrategy(actor: Actor, body: Body): ApiResponse {
    const fail = (text: string): ApiResponse => ok({ errorText: text });
    if (num(body.orderStrategyTypeId) !== 2) {
      return fail('Only the brackets strategy (orderStrategyTypeId 2) is supported');
    }
    const account = this.resolveAccount(actor, body);
    if (typeof account !== 'number') {
      return account.status === 200
        ? ok({ errorText: 'Access is denied', failureReason: 'Unauthorized' })
        : account;
    }
    if (body.action !== 'Buy' && body.action !== 'Sell') return badRequest('action must be Buy or Sell');
    const contract = this.contractFor(body.symbol);
    if (!contract) return fail(`Unknown contract ${String(body.symbol)}`);
    let params: Body;
    try {
      params = (typeof body.params === 'string' ? JSON.parse(body.params) : body.params) as Body;
    } catch {
      return badRequest('params must be a JSON string');
    }
    const entry = params?.entryVersion as Body | undefined;
    const list = params?.brackets;
    if (!entry || !Array.isArray(list)) return badRequest('params needs entryVersion and brackets');
    if (list.length !== 1) return fail('Only one bracket level per strategy is supported here');
    const bracket = list[0] as Body;
    const quantity = num(entry.orderQty);
    const type = EXCHANGE_TYPE[String(entry.orderType)];
    if (quantity === undefined || !type || type === 'stop') {
      return fail('entryVersion needs orderQty and a Market or Limit orderType');
    }
    if (bracket.qty !== undefined && num(bracket.qty) !== quantity) {
      return fail('The bracket quantity must equal the entry quantity');
    }
    const direction = body.action === 'Buy' ? 1 : -1;
    const levels: { takeProfit?: { ticks: number }; stopLoss?: { ticks: number } } = {};
    for (const [role, key, sign] of [
      ['takeProfit', 'profitTarget', direction],
      ['stopLoss', 'stopLoss', -direction],
    ] as const) {
      const offset = num(bracket[key]);
      if (offset === undefined || offset === 0) continue;
      if (Math.sign(offset) !== sign) {
        return fail(`${key} ${offset} lies on the wrong side of a ${body.action} entry`);
      }
      const ticks = Math.abs(offset) / contract.tickSize;
      if (Math.abs(ticks - Math.round(ticks)) > 1e-6) {
        return fail(`${key} ${offset} is not a multiple of the tick size`);
      }
      levels[role] = { ticks: Math.round(ticks) };
    }
    const uuid = str(body.uuid);
    const customTag50 = str(body.customTag50);
    const meta = this.meta(actor, { ...entry, isAutomated: body.isAutomated ?? entry.isAutomated });
    // The legs are the strategy's own orders: they carry no client order id of the caller.
    const legMeta: OrderMeta = {
      isAutomated: meta.isAutomated,
      timeInForce: meta.timeInForce,
      senderId: meta.senderId,
    };
    const price = num(entry.price);
    const placement: Placement = {
      entry: meta,
      takeProfit: legMeta,
      stopLoss: legMeta,
      strategy: {
        id: this.store.nextId('orderStrategy'),
        params: typeof body.params === 'string' ? body.params : JSON.stringify(params),
        ...(uuid === undefined ? {} : { uuid }),
        ...(customTag50 === undefined ? {} : { customTag50 }),
      },
    };
    const result = this.withPlacement(placement, () =>
      this.exchange.placeOso(
        {
          accountId: String(account),
          // The strategy's uuid makes a resent start return the first strategy.
          clientOrderId: uuid ? `strategy:${uuid}` : null,
          contract: contract.id,
          side: direction > 0 ? 'buy' : 'sell',
          quantity,
          type,
          ...(price === undefined ? {} : { price }),
          automated: meta.isAutomated,
        },
        levels,
      ),
    );
    if (!result.ok) {
      return ok({ errorText: result.error.text, failureReason: FAILURE_REASON[result.error.reason] });
    }
    const id = this.strategyOf.get(Number(result.value.entry.id));
    const strategy = id === undefined ? undefined : this.store.get('orderStrategy', id);
    if (!strategy) return fail('The strategy could not be started');
    return ok({ orderStrategy: { ...strategy } });
  }

  /** `orderStrategy/interruptorderstrategy`: cancel what the strategy still has working. */
  interruptOrderStrategy(actor: Actor, body: Body): ApiResponse {
    const id = num(body.orderStrategyId);
    const strategy = id === undefined ? undefined : this.store.get('orderStrategy', id);
    if (!strategy || !this.owns(actor, strategy.accountId)) return ok({ errorText: 'Access is denied' });
    this.interrupting.add(strategy.id);
    const account = String(strategy.accountId);
    for (const orderId of this.strategyOrders.get(strategy.id) ?? []) {
      const o = this.exchange.order(account, String(orderId));
      if (o && (o.status === 'working' || o.status === 'pending')) this.exchange.cancelOrder(account, o.id);
    }
    if (strategy.status === 'ActiveStrategy') {
      this.store.update('orderStrategy', strategy.id, { status: 'ExecutionInterrupted' });
    }
    this.interrupting.delete(strategy.id);
    return ok({ orderStrategy: { ...this.store.get('orderStrategy', strategy.id)! } });
  }

  /** `cashBalance/getcashbalancesnapshot`. */
  cashBalanceSnapshot(actor: Actor, body: Body): ApiResponse {
    const accountId = num(body.accountId);
    if (accountId === undefined || !this.owns(actor, accountId)) return ok({ errorText: 'Access is denied' });
    let openPnL = 0;
    let realizedPnL = 0;
    for (const p of this.exchange.positions(String(accountId))) {
      realizedPnL += p.realizedPnl;
      if (p.netQuantity === 0 || p.averagePrice === null) continue;
      const contract = this.exchange.contractById(p.contractId)!;
      const market = this.exchange.price(p.contractId) ?? p.averagePrice;
      openPnL += (market - p.averagePrice) * p.netQuantity * contract.pointValue;
    }
    const total = STARTING_CASH + realizedPnL;
    return ok({
      totalCashValue: total,
      realizedPnL,
      openPnL,
      netLiq: total + openPnL,
      totalPnL: realizedPnL + openPnL,
    });
  }

  // ── sync ────────────────────────────────────────────────────────────────────────────────────

  /**
   * What a `user/syncrequest` covers: the requested users' or accounts' (only the asker's own), and
   * the entity types (all, unless `entityTypes` narrows them or the partner-docs default is on).
   */
  syncScope(user: SimUserOption, body: Body, requireEntityTypes: boolean): SyncScope {
    const own = new Set(user.accounts.map((a) => a.id));
    const accounts = Array.isArray(body.accounts)
      ? body.accounts.map(Number).filter((id) => own.has(id))
      : [];
    const users = Array.isArray(body.users) ? body.users.map(Number) : [];
    const accountIds = new Set<number>(accounts);
    if (users.includes(user.userId) || (!Array.isArray(body.accounts) && !Array.isArray(body.users))) {
      for (const id of own) accountIds.add(id);
    }
    let entityTypes: Set<EntityType> | null = null;
    if (Array.isArray(body.entityTypes)) {
      entityTypes = new Set(
        body.entityTypes.filter((t): t is EntityType => typeof t === 'string' && t in PLURAL),
      );
    } else if (requireEntityTypes) {
      entityTypes = new Set();
    }
    return { accountIds, entityTypes };
  }

  /** The `user/syncrequest` snapshot of a scope. */
  syncSnapshot(user: SimUserOption, scope: SyncScope): Record<string, unknown> {
    const { accountIds, entityTypes } = scope;
    const viewer: Viewer = { userId: user.userId, accountIds };
    const out: Record<string, unknown> = {};
    for (const type of Object.keys(PLURAL) as EntityType[]) {
      if (type !== 'user' && entityTypes !== null && !entityTypes.has(type)) continue;
      out[PLURAL[type]] = this.store.list(type, viewer);
    }
    if (entityTypes === null) {
      for (const key of [
        'accountRiskStatuses',
        'marginSnapshots',
        'userAccountAutoLiqs',
        'fillPairs',
        'spreadDefinitions',
        'userProperties',
        'properties',
        'userPlugins',
      ]) {
        out[key] = [];
      }
    }
    return out;
  }

  // ── inspection ──────────────────────────────────────────────────────────────────────────────

  /** An account's orders with their latest version's quantity, type and prices, and their clOrdId. */
  ordersOf(accountId: number): SimOrderView[] {
    return this.store
      .where('order', (o) => o.accountId === accountId)
      .map((o) => {
        const v = this.store.get('orderVersion', this.latestVersionOf.get(o.id)!)!;
        const c = this.store.get('command', this.newCommandOf.get(o.id)!);
        return {
          ...o,
          orderQty: v.orderQty,
          orderType: v.orderType,
          ...(v.price === undefined ? {} : { price: v.price }),
          ...(v.stopPrice === undefined ? {} : { stopPrice: v.stopPrice }),
          ...(c?.clOrdId === undefined ? {} : { clOrdId: c.clOrdId }),
          ...(v.text === undefined ? {} : { text: v.text }),
          isAutomated: c?.isAutomated ?? false,
        };
      });
  }

  // ── internals ───────────────────────────────────────────────────────────────────────────────

  private withPlacement<T>(placement: Placement, call: () => T): T {
    this.placement = placement;
    try {
      return call();
    } finally {
      this.placement = null;
    }
  }

  private meta(actor: Actor, body: Body): OrderMeta {
    const clOrdId = str(body.clOrdId);
    const text = str(body.text) ?? clOrdId;
    const customTag50 = str(body.customTag50);
    return {
      isAutomated: body.isAutomated === true,
      timeInForce: str(body.timeInForce) ?? 'Day',
      senderId: actor.user.userId,
      ...(clOrdId === undefined ? {} : { clOrdId }),
      ...(text === undefined ? {} : { text }),
      ...(customTag50 === undefined ? {} : { customTag50 }),
    };
  }

  private owns(actor: Actor, accountId: number): boolean {
    return actor.user.accounts.some((a) => a.id === accountId);
  }

  /** The account an order request acts for: `accountId`, else `accountSpec` (account name). */
  private resolveAccount(actor: Actor, body: Body): number | ApiResponse {
    let id = num(body.accountId);
    if (id === undefined && typeof body.accountSpec === 'string') {
      const spec = body.accountSpec;
      const mine = actor.user.accounts;
      const match =
        mine.find((a) => a.name === spec) ??
        (spec === actor.user.name && mine.length === 1 ? mine[0] : undefined);
      if (!match) return DENIED;
      id = match.id;
    }
    if (id === undefined) return badRequest('accountId is required');
    return this.owns(actor, id) ? id : DENIED;
  }

  /** An exact contract name (`MNQZ6`, any case) or a contract id. */
  private contractFor(symbol: unknown): ExchangeContract | null {
    if (typeof symbol === 'number' || (typeof symbol === 'string' && /^\d+$/.test(symbol))) {
      return this.exchange.contractById(String(symbol));
    }
    if (typeof symbol !== 'string' || parseSymbol(symbol)?.kind !== 'contract') return null;
    const c = this.exchange.resolve(symbol);
    return c && c.name === symbol.trim().toUpperCase() ? c : null;
  }

  private checkEntry(
    actor: Actor,
    body: Body,
  ):
    | ApiResponse
    | {
        accountId: number;
        contract: ExchangeContract;
        side: 'buy' | 'sell';
        quantity: number;
        type: ExchangeOrder['type'];
        price: number | undefined;
        stopPrice: number | undefined;
      } {
    const account = this.resolveAccount(actor, body);
    if (typeof account !== 'number') return account;
    if (body.action !== 'Buy' && body.action !== 'Sell') return badRequest('action must be Buy or Sell');
    const quantity = num(body.orderQty);
    if (quantity === undefined) return badRequest('orderQty is required');
    if (typeof body.symbol !== 'string' && typeof body.symbol !== 'number') {
      return badRequest('symbol is required');
    }
    if (typeof body.orderType !== 'string') return badRequest('orderType is required');
    const type = EXCHANGE_TYPE[body.orderType];
    if (!type) return failure('Unsupported', `${body.orderType} orders are not supported here`);
    const contract = this.contractFor(body.symbol);
    if (!contract) return failure('InvalidContract', `Unknown contract ${String(body.symbol)}`);
    return {
      accountId: account,
      contract,
      side: body.action === 'Buy' ? 'buy' : 'sell',
      quantity,
      type,
      price: num(body.price),
      stopPrice: num(body.stopPrice),
    };
  }

  private ownOrder(actor: Actor, orderId: number): OrderEntity | ApiResponse {
    const order = this.store.get('order', orderId);
    if (!order) return failure('UnknownReason', `Order ${orderId} was not found`);
    return this.owns(actor, order.accountId) ? order : DENIED;
  }

  private putCommand(order: OrderEntity, kind: 'New' | 'Modify' | 'Cancel', meta: OrderMeta): number {
    const id = this.store.nextId('command');
    this.store.put('command', {
      id,
      orderId: order.id,
      timestamp: this.exchange.timestamp(),
      ...(meta.clOrdId === undefined ? {} : { clOrdId: meta.clOrdId }),
      commandType: kind,
      commandStatus: 'RiskPassed',
      senderId: meta.senderId,
      userSessionId: meta.senderId,
      isAutomated: meta.isAutomated,
      ...(meta.customTag50 === undefined ? {} : { customTag50: meta.customTag50 }),
      accountId: order.accountId,
    });
    return id;
  }

  /** A Modify or Cancel command's answer: its id, or the refusal (recorded on the command too). */
  private commandOutcome(
    commandId: number,
    order: OrderEntity,
    result: { ok: true } | { ok: false; error: ExchangeRejection },
  ): ApiResponse {
    if (result.ok) {
      this.putCommandReport(commandId, order, 'RiskPassed');
      return ok({ commandId });
    }
    const reason = FAILURE_REASON[result.error.reason];
    this.store.update('command', commandId, { commandStatus: 'RiskRejected' });
    this.putCommandReport(commandId, order, 'RiskRejected', reason, result.error.text);
    return ok({ failureReason: reason, failureText: result.error.text, commandId });
  }

  private putCommandReport(
    commandId: number,
    order: OrderEntity,
    status: 'RiskPassed' | 'RiskRejected',
    rejectReason?: string,
    text?: string,
  ): void {
    this.store.put('commandReport', {
      id: this.store.nextId('commandReport'),
      commandId,
      timestamp: this.exchange.timestamp(),
      commandStatus: status,
      ordStatus: this.store.get('order', order.id)?.ordStatus ?? order.ordStatus,
      ...(rejectReason === undefined ? {} : { rejectReason }),
      ...(text === undefined ? {} : { text }),
      accountId: order.accountId,
    });
  }

  private putExecutionReport(
    order: OrderEntity,
    commandId: number,
    execType: 'New' | 'Trade' | 'Canceled' | 'Replaced',
    fill?: ExchangeFill,
  ): void {
    const now = this.exchange.now();
    this.store.put('executionReport', {
      id: this.store.nextId('executionReport'),
      commandId,
      name: `${order.id}-${++this.reportSeq}`,
      accountId: order.accountId,
      contractId: order.contractId,
      timestamp: fill?.timestamp ?? this.exchange.timestamp(),
      tradeDate: tradeDate(now.getTime()),
      orderId: order.id,
      execType,
      ordStatus: order.ordStatus,
      action: order.action,
      cumQty: fill ? fill.quantity : 0,
      ...(fill ? { avgPx: fill.price, lastQty: fill.quantity, lastPx: fill.price } : {}),
    });
  }

  private onExchangeEvent(event: ExchangeEvent): void {
    switch (event.type) {
      case 'order':
        if (event.event === 'Created') this.orderCreated(event.entity);
        else this.orderUpdated(event.entity);
        return;
      case 'fill':
        this.fillCreated(event.entity);
        return;
      case 'position':
        this.positionChanged(event.entity);
        return;
    }
  }

  private orderCreated(o: ExchangeOrder): void {
    const placement = this.placement;
    const meta =
      (o.bracket === 'takeProfit'
        ? placement?.takeProfit
        : o.bracket === 'stopLoss'
          ? placement?.stopLoss
          : placement?.entry) ??
      // Orders placed on the exchange directly (by a test) carry no request metadata.
      ({ isAutomated: o.automated, timeInForce: 'Day', senderId: 0 } satisfies OrderMeta);
    const strategy = placement?.strategy;
    if (strategy !== undefined) {
      if (!this.store.get('orderStrategy', strategy.id)) {
        this.store.put('orderStrategy', {
          id: strategy.id,
          accountId: Number(o.accountId),
          timestamp: o.createdAt,
          contractId: Number(o.contractId),
          orderStrategyTypeId: 2,
          action: toAction(o.side),
          params: strategy.params,
          ...(strategy.uuid === undefined ? {} : { uuid: strategy.uuid }),
          status: 'ActiveStrategy',
          senderId: meta.senderId,
          ...(strategy.customTag50 === undefined ? {} : { customTag50: strategy.customTag50 }),
        });
      }
      this.strategyOf.set(Number(o.id), strategy.id);
      const members = this.strategyOrders.get(strategy.id) ?? [];
      members.push(Number(o.id));
      this.strategyOrders.set(strategy.id, members);
      if (o.parentId !== null && o.status === 'pending') {
        this.hiddenLegs.set(o.id, { meta, strategyId: strategy.id });
        return;
      }
    }
    this.reveal(o, meta);
  }

  /** Create the Tradovate entities of an order the client may now see. */
  private reveal(o: ExchangeOrder, meta: OrderMeta): void {
    const order = this.orderEntity(o);
    this.ensureContract(this.exchange.contractById(o.contractId)!);
    const commandId = this.store.nextId('command');
    this.newCommandOf.set(order.id, commandId);
    this.store.put('command', {
      id: commandId,
      orderId: order.id,
      timestamp: o.createdAt,
      ...(meta.clOrdId === undefined ? {} : { clOrdId: meta.clOrdId }),
      commandType: 'New',
      commandStatus: 'RiskPassed',
      senderId: meta.senderId,
      userSessionId: meta.senderId,
      isAutomated: meta.isAutomated,
      ...(meta.customTag50 === undefined ? {} : { customTag50: meta.customTag50 }),
      accountId: order.accountId,
    });
    this.store.put('order', order);
    this.latestVersionOf.set(order.id, commandId);
    this.store.put('orderVersion', this.versionEntity(commandId, o, meta));
    this.putCommandReport(commandId, order, 'RiskPassed');
    this.putExecutionReport(order, commandId, 'New');
    const strategyId = this.strategyOf.get(order.id);
    if (strategyId !== undefined) {
      this.store.put('orderStrategyLink', {
        id: this.store.nextId('orderStrategyLink'),
        orderStrategyId: strategyId,
        orderId: order.id,
        label: o.bracket === 'takeProfit' ? 'TakeProfit' : o.bracket === 'stopLoss' ? 'StopLoss' : 'Entry',
        accountId: order.accountId,
      });
    }
  }

  private orderUpdated(o: ExchangeOrder): void {
    const hidden = this.hiddenLegs.get(o.id);
    if (hidden) {
      if (o.status === 'pending') return;
      this.hiddenLegs.delete(o.id);
      // A leg cancelled with its unfilled entry never existed for the client.
      if (o.status === 'working') this.reveal(o, hidden.meta);
      this.updateStrategy(hidden.strategyId);
      return;
    }
    const id = Number(o.id);
    const before = this.store.get('order', id);
    if (!before) return;
    const ordStatus = ORD_STATUS[o.status];
    const command = this.command?.orderId === id ? this.command : null;
    const version = this.store.get('orderVersion', this.latestVersionOf.get(id)!)!;
    const changed =
      version.orderQty !== o.quantity ||
      (version.price ?? null) !== o.price ||
      (version.stopPrice ?? null) !== o.stopPrice;
    if (command?.kind === 'Modify' && !command.versioned) {
      command.versioned = true;
      this.latestVersionOf.set(id, command.commandId);
      this.store.put('orderVersion', {
        ...this.versionEntity(command.commandId, o, command.meta),
        orderType: version.orderType,
      });
    } else if (changed) {
      // Fill-relative legs get their price when the entry fills: the same version, now priced.
      this.store.update('orderVersion', version.id, priceFields(o));
    }
    if (before.ordStatus !== ordStatus) {
      const order = this.store.update('order', id, { ordStatus })!;
      if (ordStatus === 'Canceled') {
        this.putExecutionReport(
          order,
          command?.kind === 'Cancel' ? command.commandId : this.newCommandOf.get(id)!,
          'Canceled',
        );
      }
    } else if (command?.kind === 'Modify') {
      this.putExecutionReport(before, command.commandId, 'Replaced');
    }
    const strategyId = this.strategyOf.get(id);
    if (strategyId !== undefined) this.updateStrategy(strategyId);
  }

  private fillCreated(f: ExchangeFill): void {
    const orderId = Number(f.orderId);
    const order = this.store.get('order', orderId);
    if (!order) return;
    this.store.put('fill', {
      id: Number(f.id),
      orderId,
      contractId: Number(f.contractId),
      timestamp: f.timestamp,
      tradeDate: tradeDate(Date.parse(f.timestamp)),
      action: toAction(f.side),
      qty: f.quantity,
      price: f.price,
      active: true,
      finallyPaired: 0,
      accountId: order.accountId,
    });
    this.putExecutionReport(order, this.newCommandOf.get(orderId)!, 'Trade', f);
  }

  private positionChanged(p: ExchangePosition): void {
    const accountId = Number(p.accountId);
    const ts = Date.parse(p.timestamp);
    this.store.put('position', {
      id: Number(p.id),
      accountId,
      contractId: Number(p.contractId),
      timestamp: p.timestamp,
      tradeDate: tradeDate(ts),
      netPos: p.netQuantity,
      ...(p.averagePrice === null ? {} : { netPrice: p.averagePrice }),
      bought: p.bought,
      boughtValue: p.boughtValue,
      sold: p.sold,
      soldValue: p.soldValue,
      prevPos: 0,
    });
    const cashId = this.cashBalanceOf.get(accountId);
    if (cashId === undefined) return;
    const realized = this.exchange.positions(p.accountId).reduce((sum, x) => sum + x.realizedPnl, 0);
    const current = this.store.get('cashBalance', cashId)!;
    if (current.realizedPnL !== realized) {
      this.store.update('cashBalance', cashId, {
        amount: STARTING_CASH + realized,
        realizedPnL: realized,
        weekRealizedPnL: realized,
        timestamp: p.timestamp,
      });
    }
  }

  /** ActiveStrategy until a leg has closed the position (finished) or the entry died unfilled. */
  private updateStrategy(strategyId: number): void {
    const strategy = this.store.get('orderStrategy', strategyId);
    if (strategy?.status !== 'ActiveStrategy') return;
    const account = String(strategy.accountId);
    const [entry, ...statuses] = (this.strategyOrders.get(strategyId) ?? []).map(
      (id) => this.exchange.order(account, String(id))?.status,
    );
    let status: OrderStrategyEntity['status'] | null = null;
    if (entry === 'canceled') {
      status = this.interrupting.has(strategyId) ? 'ExecutionInterrupted' : 'StoppedByUser';
    } else if (entry === 'filled' && statuses.every((s) => s === 'filled' || s === 'canceled')) {
      status = 'ExecutionFinished';
    }
    if (status) this.store.update('orderStrategy', strategyId, { status });
  }

  private orderEntity(o: ExchangeOrder): OrderEntity {
    return {
      id: Number(o.id),
      accountId: Number(o.accountId),
      contractId: Number(o.contractId),
      timestamp: o.createdAt,
      action: toAction(o.side),
      ordStatus: ORD_STATUS[o.status],
      ...(o.ocoId === null ? {} : { ocoId: Number(o.ocoId) }),
      ...(o.parentId === null ? {} : { parentId: Number(o.parentId) }),
      admin: false,
    };
  }

  private versionEntity(id: number, o: ExchangeOrder, meta: OrderMeta): OrderVersionEntity {
    return {
      id,
      orderId: Number(o.id),
      orderQty: o.quantity,
      orderType: ORDER_TYPE[o.type],
      ...priceFields(o),
      timeInForce: meta.timeInForce,
      ...(meta.text === undefined ? {} : { text: meta.text }),
    };
  }

  /** List a contract (and its maturity) so `contract/item`, syncs and `suggest` see it. */
  private ensureContract(c: ExchangeContract): Record<string, unknown> {
    const id = Number(c.id);
    const existing = this.store.get('contract', id);
    if (existing) return existing as unknown as Record<string, unknown>;
    this.store.put('contractMaturity', {
      id,
      productId: PRODUCT_IDS.get(c.root)!,
      expirationMonth: c.year * 100 + MONTH_CODES.indexOf(c.month) + 1,
      expirationDate: c.expiration,
      isFront: this.exchange.resolve(c.root)?.id === c.id,
      archived: false,
    });
    return this.store.put('contract', {
      id,
      name: c.name,
      contractMaturityId: id,
      status: 'DefinitionChecked',
      providerTickSize: c.tickSize,
    }) as unknown as Record<string, unknown>;
  }

  /** The next few listed contracts of every product, walking the domain's front-month rule forward. */
  private seedContracts(monthsAhead: number): void {
    for (const root of PRODUCTS.keys()) {
      let at = this.exchange.now();
      for (let k = 0; k < monthsAhead; k++) {
        const front = frontMonth(root, at);
        const c = this.exchange.resolve(front.name);
        if (c) this.ensureContract(c);
        at = new Date(front.expiry.getTime() - ROLL_MS + 1);
      }
    }
  }
}

export interface SyncScope {
  readonly accountIds: ReadonlySet<number>;
  /** Null: every type. */
  readonly entityTypes: ReadonlySet<EntityType> | null;
}

/** An order as `sim.orders()` shows it: the Order entity plus its latest version and New command. */
export type SimOrderView = OrderEntity & {
  orderQty: number;
  orderType: OrderType;
  price?: number;
  stopPrice?: number;
  clOrdId?: string;
  text?: string;
  isAutomated: boolean;
};

function rejection(error: ExchangeRejection): ApiResponse {
  return failure(FAILURE_REASON[error.reason], error.text);
}

function priceFields(o: ExchangeOrder): { price?: number; stopPrice?: number } {
  return {
    ...(o.price === null ? {} : { price: o.price }),
    ...(o.stopPrice === null ? {} : { stopPrice: o.stopPrice }),
  };
}

function toAction(side: 'buy' | 'sell'): Action {
  return side === 'buy' ? 'Buy' : 'Sell';
}

/** Numbers arrive as JSON numbers, or as strings from form bodies and query strings. */
export function num(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}
