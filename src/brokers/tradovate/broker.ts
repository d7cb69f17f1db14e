/**
 * The Tradovate adapter: the broker port over Tradovate's REST and WebSocket API.
 *
 * Each credential (a Tradovate user) is a lane: its own request budget, one pooled socket, and its
 * own caches (accounts, contracts, orders it placed). Reads that several of its accounts make at
 * the same moment share one request (`batch.ts`); mutations never do. Every operation first checks
 * that the account belongs to the credential, and every venue answer that could list other
 * accounts' records is filtered by account before it is used.
 */
import type { Result } from '../../domain/result.js';
import { err, ok } from '../../domain/result.js';
import { frontMonth, PRODUCTS, parseSymbol, roundToTick } from '../../domain/symbols.js';
import type {
  AccountRef,
  BracketLevel,
  BracketRequest,
  Broker,
  BrokerAccountInfo,
  BrokerOrder,
  BrokerPosition,
  BrokerResult,
  CallOptions,
  CancelRequest,
  ContractInfo,
  LiquidateRequest,
  ModifyRequest,
  OrderRequest,
  PlacedBracket,
} from '../broker.js';
import type { BrokerError } from '../errors.js';
import { outcomeUnknown, rejected, unavailable } from '../errors.js';
import { ReadBatcher } from './batch.js';
import { TradovateClient } from './client.js';
import { CredentialHealth } from './health.js';
import type { BudgetUsage, RateLimitOptions, WindowLimiterFactory } from './limits.js';
import { Budgets, DEFAULT_LIMITS } from './limits.js';
import type {
  Parsed,
  PropsEvent,
  StrategyAnswer,
  VenueAccount,
  VenueCommand,
  VenueContract,
  VenueFill,
  VenueOrder,
  VenueOrderStrategyLink,
  VenueOrderVersion,
  VenuePosition,
} from './parse.js';
import {
  clientOrderIds,
  isWorking,
  latestVersions,
  oppositeAction,
  parseAccountList,
  parseCommandList,
  parseCommandResult,
  parseContract,
  parseContractList,
  parseFillList,
  parseOrder,
  parseOrderList,
  parseOrderStrategyLinkList,
  parseOrderStrategyList,
  parseOrderVersionList,
  parsePlaceResult,
  parsePositionList,
  parseProduct,
  parsePropsEvent,
  parseShutdownEvent,
  parseStrategyResponse,
  strategyEntryOrderId,
  toAction,
  toBrokerOrder,
  toBrokerPosition,
  toVenueOrderType,
} from './parse.js';
import type { PenaltyPolicy } from './penalties.js';
import type { PoolOptions } from './pool.js';
import { DEFAULT_POOL, SocketPool } from './pool.js';
import type { FetchLike, VenueRequest } from './rest.js';
import { RestTransport } from './rest.js';
import type { OAuthClient, TokenOptions } from './tokens.js';
import { DEFAULT_TOKEN_OPTIONS, TokenManager } from './tokens.js';
import type {
  Clock,
  CredentialStore,
  Logger,
  Priority,
  TokenSource,
  TradovateCredentialState,
} from './types.js';
import { systemClock } from './types.js';
import type { TradovateSocket } from './ws.js';

export interface TimeoutOptions {
  /** One request's answer, ms; a mutation past it is `outcome_unknown`. */
  readonly requestMs: number;
  /** Opening a socket (until the `o` frame), ms. */
  readonly connectMs: number;
  /** Auth calls and socket authorization, ms. */
  readonly authMs: number;
}

export const DEFAULT_TIMEOUTS: TimeoutOptions = { requestMs: 10_000, connectMs: 5_000, authMs: 15_000 };

export interface CacheOptions {
  /** How long a credential's account list is trusted, ms. */
  readonly accountsMs: number;
  /** An account missing from a list older than this triggers one refresh, ms. */
  readonly accountsMissRefreshMs: number;
  /** How long a resolved contract is trusted, ms. */
  readonly contractsMs: number;
  /** Most client order ids remembered per credential for duplicate placements (a hard cap). */
  readonly placements: number;
  /**
   * How long an answered placement is remembered, ms: a repeat of its client order id within this
   * time gets the first answer and places nothing. Beyond it, the engine's journal is the guard (it
   * never sends an acknowledged row again and looks unsettled ones up first). A placement whose
   * outcome is unknown is kept until the count cap, so a repeat of it is always looked up first.
   */
  readonly placementsMs: number;
  /**
   * How long the account of an order this process placed or looked up is remembered, ms. Modify and
   * cancel of an order no longer remembered look its owner up at the venue first.
   */
  readonly ordersMs: number;
}

export const DEFAULT_CACHE: CacheOptions = {
  accountsMs: 10 * 60_000,
  accountsMissRefreshMs: 30_000,
  contractsMs: 60 * 60_000,
  placements: 5_000,
  // A fan-out's repeats and follow-ups (settling an unknown outcome, resizing or cancelling what it
  // just placed) come within seconds. At 10,000 accounts a buy and a flatten leave about 14 MB here,
  // so the window bounds the memory a busy channel holds: with five minutes, a 10,000-account buy
  // and flatten every 17 s grew the heap by 120 MB in nine rounds.
  placementsMs: 30_000,
  ordersMs: 30_000,
};

/**
 * Read coalescing: reads of several accounts (or orders, or strategies) of one credential that
 * arrive together share one request (`position/list`, or `ldeps` for the masters asked). Nothing
 * is kept once the answer is handed out.
 */
export interface CoalesceOptions {
  /** Longest the first read of a batch waits for the credential's other accounts, ms. */
  readonly readsMs: number;
  /**
   * Longest a started bracket strategy waits for the credential's other starts before its entry
   * order is looked up with theirs, ms. The lookup goes out at once when no other start is in flight.
   */
  readonly strategyLinksMs: number;
}

export const DEFAULT_COALESCE: CoalesceOptions = { readsMs: 3, strategyLinksMs: 10 };

/** What the adapter's sockets report, for reconciliation and the dashboard. */
export type TradovateEvent =
  | {
      readonly type: 'props';
      readonly credentialId: string;
      readonly entityType: string;
      readonly eventType: 'Created' | 'Updated' | 'Deleted';
      readonly entities: readonly Record<string, unknown>[];
    }
  | {
      readonly type: 'shutdown';
      readonly credentialId: string;
      readonly reasonCode: string;
      readonly reason: string | null;
    };

export interface TradovateBrokerOptions {
  /** REST base including the version, e.g. `https://demo.tradovateapi.com/v1`. */
  readonly restUrl: string;
  /** Trading WebSocket, e.g. `wss://demo.tradovateapi.com/v1/websocket`. */
  readonly wsUrl: string;
  readonly credentials: CredentialStore;
  readonly log: Logger;
  readonly limits?: Partial<RateLimitOptions>;
  readonly pool?: Partial<PoolOptions>;
  readonly timeouts?: Partial<TimeoutOptions>;
  /** Renewal margin, and the OAuth application for the refresh-token grant. */
  readonly tokens?: Partial<TokenOptions> & { readonly oauth?: OAuthClient };
  readonly cache?: Partial<CacheOptions>;
  readonly coalesce?: Partial<CoalesceOptions>;
  /** Told once per change when a credential is locked, needs re-authorization, or is usable again. */
  readonly onCredentialState?: (
    credentialId: string,
    state: TradovateCredentialState,
    reason: string,
  ) => void;
  readonly onEvent?: (event: TradovateEvent) => void;
  readonly clock?: Clock;
  /** Replaces global fetch (tests, proxies). */
  readonly fetch?: FetchLike;
  /** Replaces the in-memory rate windows (a shared store when lanes run on several instances). */
  readonly limiterFactory?: WindowLimiterFactory;
}

interface KnownOrder {
  readonly accountId: number;
  readonly orderType: string;
  /** When it was remembered (the clock's ms). */
  readonly at: number;
}

interface Placement {
  readonly promise: Promise<BrokerResult<unknown>>;
  result: BrokerResult<unknown> | null;
  /** When it was sent, or last found too young to forget (the clock's ms). */
  at: number;
}

interface Lane {
  accounts: { list: VenueAccount[]; at: number } | null;
  loadingAccounts: Promise<BrokerResult<VenueAccount[]>> | null;
  readonly contracts: Map<string, { info: ContractInfo; at: number }>;
  readonly resolving: Map<string, Promise<BrokerResult<ContractInfo>>>;
  readonly contractNames: Map<number, string>;
  /** `contract/item` look-ups on their way, by contract id. */
  readonly naming: Map<number, Promise<BrokerResult<VenueContract | null>>>;
  readonly orders: Map<number, KnownOrder>;
  readonly placements: Map<string, Placement>;
  /** Per account: moves on every mutation of it and every venue event about it. */
  readonly generations: Map<number, number>;
  /** Entities whose `ldeps` the venue refused: asked with one `deps` per master instead. */
  readonly noLdeps: Set<DepsEntity>;
  /** The venue refused `position/list`: positions are read with `deps`/`ldeps` instead. */
  noPositionList: boolean;
  /** `startorderstrategy` calls sent and not answered yet. */
  startsInFlight: number;
  /** Strategy links seen in `props` events (with `user/syncrequest` on), by strategy. */
  readonly streamedLinks: Map<number, VenueOrderStrategyLink[]>;
  readonly reads: LaneReads;
}

/** The credential's coalesced reads, by what they read. */
interface LaneReads {
  readonly positions: ReadBatcher<VenuePosition>;
  readonly orders: ReadBatcher<VenueOrder>;
  /** `order/list`, every account's orders: the fallback when `order/deps` has nothing. */
  readonly orderList: ReadBatcher<VenueOrder>;
  readonly versions: ReadBatcher<VenueOrderVersion>;
  readonly commands: ReadBatcher<VenueCommand>;
  readonly fills: ReadBatcher<VenueFill>;
  readonly strategyLinks: ReadBatcher<VenueOrderStrategyLink>;
}

type DepsEntity = 'position' | 'order' | 'orderVersion' | 'command' | 'fill' | 'orderStrategyLink';

/** `ldeps` takes a comma-separated list; keep each request short. */
const LDEPS_CHUNK = 20;
const STRATEGY_BRACKETS = 2;
/** Strategy links kept from the event stream, per credential. */
const STREAMED_LINKS = 2_000;
/** Entity types shared by every user: their events say nothing about an account. */
const REFERENCE_ENTITIES: ReadonlySet<string> = new Set([
  'contract',
  'contractMaturity',
  'contractGroup',
  'product',
  'exchange',
  'currency',
  'spreadDefinition',
  'orderStrategyType',
  'user',
  'userProperty',
  'property',
  'userPlugin',
]);

/** A Tradovate id (account, order, contract) written as digits. */
const VENUE_ID = /^\d{1,15}$/;

function notOurAccount(ref: AccountRef): BrokerResult<never> {
  return err(rejected('Unauthorized', `account ${ref.brokerAccountId} is not an account of this credential`));
}

/** A venue id in an event's entity, when it is one. */
function venueId(value: unknown): number | null {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  if (typeof value === 'string' && VENUE_ID.test(value)) return Number(value);
  return null;
}

/** {@link Broker} for Tradovate. */
export class TradovateBroker implements Broker {
  readonly name = 'tradovate' as const;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly health: CredentialHealth;
  private readonly budgets: Budgets;
  private readonly tokens: TokenManager;
  private readonly pool: SocketPool;
  private readonly client: TradovateClient;
  private readonly cacheOptions: CacheOptions;
  private readonly coalesceOptions: CoalesceOptions;
  private readonly poolOptions: PoolOptions;
  private readonly timeouts: TimeoutOptions;
  private readonly lanes = new Map<string, Lane>();
  private readonly reconnects = new Set<NodeJS.Timeout>();
  /** Lets go of expired placements and orders of credentials that stopped trading. */
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly options: TradovateBrokerOptions) {
    this.log = options.log;
    this.clock = options.clock ?? systemClock;
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    this.cacheOptions = { ...DEFAULT_CACHE, ...options.cache };
    const { placementsMs, ordersMs } = this.cacheOptions;
    this.sweeper = setInterval(() => this.forgetExpired(), Math.max(1_000, Math.min(placementsMs, ordersMs)));
    this.sweeper.unref();
    this.coalesceOptions = { ...DEFAULT_COALESCE, ...options.coalesce };
    this.poolOptions = { ...DEFAULT_POOL, ...options.pool };
    const limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.health = new CredentialHealth(this.clock, this.log, options.onCredentialState);
    this.budgets = new Budgets({
      limits,
      ...(options.limiterFactory ? { limiterFactory: options.limiterFactory } : {}),
    });
    const penalties: PenaltyPolicy = {
      clock: this.clock,
      health: this.health,
      log: this.log,
      maxWaitMs: limits.maxPenaltyWaitMs,
      maxRetries: limits.maxPenaltyRetries,
    };
    const rest = new RestTransport({
      baseUrl: options.restUrl,
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
    this.tokens = new TokenManager({
      store: options.credentials,
      rest,
      budgets: this.budgets,
      health: this.health,
      penalties,
      clock: this.clock,
      log: this.log,
      options: { ...DEFAULT_TOKEN_OPTIONS, ...options.tokens },
      authTimeoutMs: this.timeouts.authMs,
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
    this.pool = new SocketPool({
      url: options.wsUrl,
      options: this.poolOptions,
      log: this.log,
      clock: this.clock,
      connectTimeoutMs: this.timeouts.connectMs,
      authTimeoutMs: this.timeouts.authMs,
      onEvent: (credentialId, event, data) => this.onSocketEvent(credentialId, event, data),
      onAuthorized: (credentialId, socket) => {
        if (this.poolOptions.sync) void this.sync(credentialId, socket);
      },
      onDrop: (credentialId, retryInMs) => this.onSocketDrop(credentialId, retryInMs),
    });
    this.client = new TradovateClient({
      rest,
      pool: this.pool,
      tokens: this.tokens,
      budgets: this.budgets,
      health: this.health,
      penalties,
      log: this.log,
      requestTimeoutMs: this.timeouts.requestMs,
    });
  }

  // ── the port ──────────────────────────────────────────────────────────────────────────────

  async listAccounts(
    credentialId: string,
    options?: CallOptions,
  ): Promise<BrokerResult<BrokerAccountInfo[]>> {
    const r = await this.loadAccounts(credentialId, options?.priority ?? 'query', true);
    if (!r.ok) return r;
    return ok(r.value.map((a) => ({ brokerAccountId: String(a.id), name: a.name, active: a.active })));
  }

  async resolveContract(
    credentialId: string,
    symbol: string,
    options?: CallOptions,
  ): Promise<BrokerResult<ContractInfo>> {
    const priority = options?.priority ?? 'query';
    const form = parseSymbol(symbol);
    if (!form) return err(rejected('InvalidContract', `unknown symbol ${symbol}`));
    const name =
      form.kind === 'contract'
        ? `${form.root}${form.month}${form.year % 10}`
        : frontMonth(form.root, new Date(this.clock.now())).name;
    const lane = this.lane(credentialId);
    const cached = this.cachedContract(lane, name);
    if (cached) return ok(cached);
    // A fan-out resolves the same contract for every account of the lane at once: ask once.
    const running = lane.resolving.get(name);
    if (running) return running;
    const resolving = this.lookUpContract(credentialId, symbol, form, name, priority).finally(() =>
      lane.resolving.delete(name),
    );
    lane.resolving.set(name, resolving);
    return resolving;
  }

  private async lookUpContract(
    credentialId: string,
    symbol: string,
    form: NonNullable<ReturnType<typeof parseSymbol>>,
    name: string,
    priority: Priority,
  ): Promise<BrokerResult<ContractInfo>> {
    const lane = this.lane(credentialId);
    const found = await this.query(
      credentialId,
      { endpoint: 'contract/find', query: { name } },
      priority,
      parseContract,
    );
    let contract = found.ok ? found.value : null;
    if (!found.ok && found.error.reason !== 'NotFound') return found;
    if (!contract) {
      // The venue may list the front month under another year digit or roll on another day.
      const suggested = await this.query(
        credentialId,
        { endpoint: 'contract/suggest', query: { t: form.kind === 'contract' ? name : form.root, l: 10 } },
        priority,
        parseContractList,
      );
      if (!suggested.ok && suggested.error.reason !== 'NotFound') return suggested;
      const list = suggested.ok ? suggested.value : [];
      const pattern = new RegExp(`^${form.root}[FGHJKMNQUVXZ]\\d{1,2}$`);
      contract =
        list.find((c) => c.name === name) ??
        (form.kind === 'contract' ? undefined : list.find((c) => pattern.test(c.name))) ??
        null;
    }
    if (!contract) return err(rejected('InvalidContract', `no Tradovate contract for ${symbol}`));

    const product = await this.query(
      credentialId,
      { endpoint: 'product/find', query: { name: form.root } },
      priority,
      parseProduct,
    );
    if (!product.ok && product.error.reason !== 'NotFound') return product;
    const known = PRODUCTS.get(form.root);
    const venueProduct = product.ok ? product.value : null;
    const tickSize = venueProduct?.tickSize ?? known?.tickSize;
    const pointValue = venueProduct?.valuePerPoint ?? known?.pointValue;
    if (tickSize === undefined || pointValue === undefined) {
      return err(rejected('InvalidContract', `no product specification for ${form.root}`));
    }
    const info: ContractInfo = {
      id: String(contract.id),
      name: contract.name,
      root: form.root,
      tickSize,
      pointValue,
    };
    lane.contracts.set(name, { info, at: this.clock.now() });
    if (contract.name !== name) lane.contracts.set(contract.name, { info, at: this.clock.now() });
    lane.contractNames.set(contract.id, contract.name);
    return ok(info);
  }

  async placeOrder(request: OrderRequest, options?: CallOptions): Promise<BrokerResult<BrokerOrder>> {
    const priority = options?.priority ?? 'order';
    const invalid = checkOrder(request);
    if (invalid) return err(invalid);
    const account = await this.account(request.account, priority);
    if (!account.ok) return account;
    return this.once(
      request.account,
      request.clientOrderId,
      priority,
      async () => {
        const r = await this.mutate(
          request.account.credentialId,
          account.value.id,
          { endpoint: 'order/placeorder', body: orderBody(request, account.value) },
          priority,
          parsePlaceResult,
        );
        if (!r.ok) return r;
        if (r.value.kind === 'failed') return err(rejected(r.value.reason, r.value.text));
        this.remember(
          request.account.credentialId,
          r.value.orderId,
          account.value.id,
          toVenueOrderType(request.type),
        );
        return ok(placedOrder(request, r.value.orderId));
      },
      (found) => found,
    );
  }

  async placeBracket(request: BracketRequest, options?: CallOptions): Promise<BrokerResult<PlacedBracket>> {
    const { takeProfit, stopLoss } = request;
    if (!takeProfit && !stopLoss) {
      const r = await this.placeOrder(request, options);
      return r.ok ? ok({ entry: r.value }) : r;
    }
    const priority = options?.priority ?? 'order';
    const invalid = checkOrder(request);
    if (invalid) return err(invalid);
    const kinds = new Set([takeProfit?.kind, stopLoss?.kind].filter(Boolean));
    if (kinds.size > 1)
      return err(rejected('InvalidBracket', 'both bracket legs must be prices or both offsets'));
    const account = await this.account(request.account, priority);
    if (!account.ok) return account;
    const run = kinds.has('price')
      ? () => this.placeOso(request, account.value, priority)
      : () => this.startStrategy(request, account.value, priority);
    return this.once(request.account, request.clientOrderId, priority, run, (entry) => ({ entry }));
  }

  async modifyOrder(request: ModifyRequest, options?: CallOptions): Promise<BrokerResult<void>> {
    const priority = options?.priority ?? 'order';
    const cid = request.account.credentialId;
    if (!Number.isInteger(request.quantity) || request.quantity <= 0) {
      return err(rejected('InvalidQuantity', 'quantity must be a positive whole number'));
    }
    const account = await this.account(request.account, priority);
    if (!account.ok) return account;
    const owned = await this.ownedOrder(cid, account.value.id, request.orderId, priority);
    if (!owned.ok) return owned;
    const { orderType, version } = owned.value;
    let price = request.price;
    let stopPrice = request.stopPrice;
    if ((orderType === 'Limit' && price === undefined) || (orderType === 'Stop' && stopPrice === undefined)) {
      // The venue replaces the whole version: keep the current level when only the quantity changes.
      const v = version ?? (await this.currentVersion(cid, Number(request.orderId), priority));
      if (!v.ok) return v;
      price ??= v.value?.price ?? undefined;
      stopPrice ??= v.value?.stopPrice ?? undefined;
    }
    const body: Record<string, unknown> = {
      orderId: Number(request.orderId),
      orderQty: request.quantity,
      orderType,
      isAutomated: true,
    };
    if (request.clientOrderId) body.clOrdId = request.clientOrderId;
    if (price !== undefined && orderType !== 'Market' && orderType !== 'Stop') body.price = price;
    if (stopPrice !== undefined && orderType !== 'Market' && orderType !== 'Limit')
      body.stopPrice = stopPrice;
    const r = await this.mutate(
      cid,
      account.value.id,
      { endpoint: 'order/modifyorder', body },
      priority,
      parseCommandResult,
    );
    if (!r.ok) return r;
    return r.value.kind === 'failed' ? err(rejected(r.value.reason, r.value.text)) : ok(undefined);
  }

  async cancelOrder(request: CancelRequest, options?: CallOptions): Promise<BrokerResult<void>> {
    const priority = options?.priority ?? 'order';
    const cid = request.account.credentialId;
    const account = await this.account(request.account, priority);
    if (!account.ok) return account;
    const owned = await this.ownedOrder(cid, account.value.id, request.orderId, priority);
    if (!owned.ok) return owned;
    const r = await this.mutate(
      cid,
      account.value.id,
      { endpoint: 'order/cancelorder', body: { orderId: Number(request.orderId), isAutomated: true } },
      priority,
      parseCommandResult,
    );
    if (!r.ok) return r;
    return r.value.kind === 'failed' ? err(rejected(r.value.reason, r.value.text)) : ok(undefined);
  }

  async liquidatePosition(
    request: LiquidateRequest,
    options?: CallOptions,
  ): Promise<BrokerResult<BrokerOrder | null>> {
    const priority = options?.priority ?? 'order';
    const cid = request.account.credentialId;
    const account = await this.account(request.account, priority);
    if (!account.ok) return account;
    return this.once<BrokerOrder | null>(
      request.account,
      request.clientOrderId,
      priority,
      async () => {
        const contract = await this.resolveContract(cid, request.contract, { priority });
        if (!contract.ok) return contract;
        const contractId = Number(contract.value.id);
        const held = await this.accountPositions(cid, account.value.id, priority);
        if (!held.ok) return held;
        const position = held.value.find((p) => p.contractId === contractId && p.netPos !== 0);
        // Flat already: sending the liquidation would only earn a venue refusal.
        if (!position) return ok(null);
        const r = await this.mutate(
          cid,
          account.value.id,
          {
            endpoint: 'order/liquidateposition',
            body: { accountId: account.value.id, contractId, admin: false, isAutomated: true },
          },
          priority,
          parsePlaceResult,
        );
        if (!r.ok) return r;
        if (r.value.kind === 'failed') return err(rejected(r.value.reason, r.value.text));
        this.remember(cid, r.value.orderId, account.value.id, 'Market');
        return ok({
          orderId: String(r.value.orderId),
          clientOrderId: request.clientOrderId,
          brokerAccountId: request.account.brokerAccountId,
          contract: contract.value.name,
          side: position.netPos > 0 ? 'sell' : 'buy',
          type: 'market',
          quantity: Math.abs(position.netPos),
          filledQuantity: 0,
          price: null,
          stopPrice: null,
          status: 'pending',
          averageFillPrice: null,
          parentOrderId: null,
        });
      },
      (found) => found,
    );
  }

  async workingOrders(account: AccountRef, options?: CallOptions): Promise<BrokerResult<BrokerOrder[]>> {
    const priority = options?.priority ?? 'query';
    const cid = account.credentialId;
    const acct = await this.account(account, priority);
    if (!acct.ok) return acct;
    const orders = await this.accountOrders(cid, acct.value.id, priority);
    if (!orders.ok) return orders;
    const working = orders.value.filter((o) => isWorking(o.ordStatus));
    return this.describeOrders(cid, working, priority, false);
  }

  async positions(account: AccountRef, options?: CallOptions): Promise<BrokerResult<BrokerPosition[]>> {
    const priority = options?.priority ?? 'query';
    const cid = account.credentialId;
    const acct = await this.account(account, priority);
    if (!acct.ok) return acct;
    const held = await this.accountPositions(cid, acct.value.id, priority);
    if (!held.ok) return held;
    const open = held.value.filter((p) => p.netPos !== 0);
    const names = await this.contractNames(
      cid,
      open.map((p) => p.contractId),
      priority,
    );
    if (!names.ok) return names;
    const out: BrokerPosition[] = [];
    for (const p of open) {
      const position = toBrokerPosition(p, names.value.get(p.contractId) ?? String(p.contractId));
      if (position) out.push(position);
    }
    return ok(out);
  }

  async findOrder(
    account: AccountRef,
    clientOrderId: string,
    options?: CallOptions,
  ): Promise<BrokerResult<BrokerOrder | null>> {
    const priority = options?.priority ?? 'query';
    const cid = account.credentialId;
    const acct = await this.account(account, priority);
    if (!acct.ok) return acct;
    const accountId = acct.value.id;
    const orders = await this.accountOrders(cid, accountId, priority);
    if (!orders.ok) return orders;
    // Newest first: the order being settled is almost always among the latest.
    const newest = [...orders.value].sort((x, y) => y.id - x.id);
    const byId = new Map(newest.map((o) => [o.id, o]));

    const reads = this.lane(cid).reads;
    let orderId: number | null = null;
    for (let i = 0; i < newest.length && orderId === null; i += LDEPS_CHUNK) {
      const ids = newest.slice(i, i + LDEPS_CHUNK).map((o) => o.id);
      const commands = await reads.commands.load(ids, priority);
      if (!commands.ok) return commands;
      const hit = commands.value.find((c) => c.clOrdId === clientOrderId && byId.has(c.orderId));
      if (hit) orderId = hit.orderId;
    }
    if (orderId === null && newest.length > 0) {
      const versions = await reads.versions.load(
        newest.map((o) => o.id),
        priority,
      );
      if (!versions.ok) return versions;
      orderId = versions.value.find((v) => v.text === clientOrderId && byId.has(v.orderId))?.orderId ?? null;
    }
    if (orderId === null) {
      const viaStrategy = await this.strategyEntry(cid, accountId, clientOrderId, priority);
      if (!viaStrategy.ok) return viaStrategy;
      if (viaStrategy.value !== null && byId.has(viaStrategy.value)) orderId = viaStrategy.value;
    }
    if (orderId === null) return ok(null);
    const described = await this.describeOrders(cid, [byId.get(orderId)!], priority, true);
    if (!described.ok) return described;
    const order = described.value[0];
    return ok(order ? { ...order, clientOrderId } : null);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    for (const t of this.reconnects) clearTimeout(t);
    this.reconnects.clear();
    this.budgets.close();
    this.pool.close();
  }

  // ── beyond the port: for the composition root, the refresh job and the dashboard ────────

  /** Renew the credential's token now (the token refresh job); login only if renewal is impossible. */
  async renewToken(
    credentialId: string,
  ): Promise<Result<{ expiresAt: Date; source: TokenSource }, BrokerError>> {
    const r = await this.tokens.renew(credentialId);
    return r.ok ? ok({ expiresAt: new Date(r.value.expiresAt), source: r.value.source }) : r;
  }

  /** Requests used in the credential's current second, minute and hour windows, with the limits. */
  budgetUsage(credentialId: string): Promise<BudgetUsage> {
    return this.budgets.usage(credentialId);
  }

  /** The credential's standing: `ok`, `needs_reauth` or `locked`. */
  credentialState(credentialId: string): TradovateCredentialState {
    return this.health.state(credentialId);
  }

  /** Forget a credential's lock, cool-down, token and caches (after its owner re-linked it). */
  resetCredential(credentialId: string): void {
    this.health.reset(credentialId);
    this.tokens.invalidate(credentialId);
    this.pool.discard(credentialId, 'credential reset');
    this.lanes.delete(credentialId);
  }

  /** Transport counters and sockets opened per credential, for metrics and tests. */
  transportStats(): {
    ws: number;
    rest: number;
    restFallbacks: number;
    openSockets: number;
    socketsOpened: ReadonlyMap<string, number>;
  } {
    return { ...this.client.stats, openSockets: this.pool.size, socketsOpened: this.pool.opened };
  }

  // ── placement ─────────────────────────────────────────────────────────────────────────────

  private async placeOso(
    request: BracketRequest,
    account: VenueAccount,
    priority: Priority,
  ): Promise<BrokerResult<PlacedBracket>> {
    const exit = oppositeAction(request.side);
    const tp = request.takeProfit as Extract<BracketLevel, { kind: 'price' }> | undefined;
    const sl = request.stopLoss as Extract<BracketLevel, { kind: 'price' }> | undefined;
    const tpLeg = tp ? { action: exit, orderType: 'Limit', price: tp.price } : undefined;
    const slLeg = sl ? { action: exit, orderType: 'Stop', stopPrice: sl.price } : undefined;
    const body: Record<string, unknown> = { ...orderBody(request, account), bracket1: tpLeg ?? slLeg };
    if (tpLeg && slLeg) body.bracket2 = slLeg;
    const cid = request.account.credentialId;
    const r = await this.mutate(
      cid,
      account.id,
      { endpoint: 'order/placeoso', body },
      priority,
      parsePlaceResult,
    );
    if (!r.ok) return r;
    if (r.value.kind === 'failed') return err(rejected(r.value.reason, r.value.text));
    const { orderId, oso1Id, oso2Id } = r.value;
    this.remember(cid, orderId, account.id, toVenueOrderType(request.type));
    const tpId = tpLeg ? oso1Id : null;
    const slId = slLeg ? (tpLeg ? oso2Id : oso1Id) : null;
    if (tpId !== null) this.remember(cid, tpId, account.id, 'Limit');
    if (slId !== null) this.remember(cid, slId, account.id, 'Stop');
    return ok({
      entry: placedOrder(request, orderId),
      ...(tpId !== null ? { takeProfitOrderId: String(tpId) } : {}),
      ...(slId !== null ? { stopLossOrderId: String(slId) } : {}),
    });
  }

  /** Offsets from the fill: Tradovate's bracket strategy, legs priced when the entry fills. */
  private async startStrategy(
    request: BracketRequest,
    account: VenueAccount,
    priority: Priority,
  ): Promise<BrokerResult<PlacedBracket>> {
    const cid = request.account.credentialId;
    if (request.type === 'stop')
      return err(rejected('Unsupported', 'a fill-relative bracket needs a market or limit entry'));
    // The request names the exact contract a resolution cached: no second look-up while it is fresh.
    const known = this.cachedContract(this.lane(cid), request.contract);
    const contract = known ? ok(known) : await this.resolveContract(cid, request.contract, { priority });
    if (!contract.ok) return contract;
    const { tickSize } = contract.value;
    const direction = request.side === 'buy' ? 1 : -1;
    const offset = (level: BracketLevel | undefined, sign: number) =>
      level?.kind === 'offset' ? roundToTick(sign * level.ticks * tickSize, tickSize) : undefined;
    const bracket: Record<string, unknown> = { qty: request.quantity, trailingStop: false };
    const profitTarget = offset(request.takeProfit, direction);
    const stopLoss = offset(request.stopLoss, -direction);
    if (profitTarget !== undefined) bracket.profitTarget = profitTarget;
    if (stopLoss !== undefined) bracket.stopLoss = stopLoss;
    const entryVersion: Record<string, unknown> = {
      orderQty: request.quantity,
      orderType: toVenueOrderType(request.type),
      // Carried onto the entry's command, so the entry can be found by client order id.
      clOrdId: request.clientOrderId,
      isAutomated: true,
    };
    if (request.price !== undefined) entryVersion.price = request.price;
    const body = {
      accountId: account.id,
      accountSpec: account.name,
      symbol: request.contract,
      orderStrategyTypeId: STRATEGY_BRACKETS,
      action: toAction(request.side),
      params: JSON.stringify({ entryVersion, brackets: [bracket] }),
      uuid: request.clientOrderId,
      isAutomated: true,
    };
    const lane = this.lane(cid);
    lane.startsInFlight++;
    let r: BrokerResult<StrategyAnswer>;
    try {
      r = await this.mutate(
        cid,
        account.id,
        { endpoint: 'orderStrategy/startorderstrategy', body },
        priority,
        parseStrategyResponse,
      );
    } finally {
      lane.startsInFlight--;
    }
    // The credential's other starts may be waiting for this one to look their entries up together.
    if ((!r.ok || r.value.kind === 'failed') && lane.startsInFlight === 0) lane.reads.strategyLinks.flush();
    if (!r.ok) return r;
    if (r.value.kind === 'failed') return err(rejected('StrategyFailed', r.value.text));
    const strategyId = r.value.strategy.id;
    // The start answer names the strategy, not its orders; the entry comes from the strategy's links.
    const entryId = await this.strategyEntryOf(cid, strategyId, priority);
    if (entryId === null) {
      this.log.warn(
        { credentialId: cid, strategyId },
        'strategy started but its entry order is not linked yet',
      );
      return err(
        outcomeUnknown(
          'EntryNotLinked',
          `bracket strategy ${strategyId} started; its entry order is not known yet`,
        ),
      );
    }
    this.remember(cid, entryId, account.id, toVenueOrderType(request.type));
    return ok({ entry: placedOrder(request, entryId) });
  }

  /**
   * Run a placement once per client order id. A repeat while the first runs shares it; after it
   * answers, a repeat gets the same answer. After an unknown outcome the order is looked up first
   * and only placed again when the venue has no trace of it.
   */
  private async once<T>(
    account: AccountRef,
    clientOrderId: string,
    priority: Priority,
    run: () => Promise<BrokerResult<T>>,
    fromFound: (order: BrokerOrder) => T,
  ): Promise<BrokerResult<T>> {
    const lane = this.lane(account.credentialId);
    const key = `${account.brokerAccountId}\u0000${clientOrderId}`;
    const seen = lane.placements.get(key);
    if (seen) {
      if (!seen.result) return (await seen.promise) as BrokerResult<T>;
      const first = seen.result as BrokerResult<T>;
      if (first.ok || first.error.kind === 'rejected') return first;
      if (first.error.kind === 'outcome_unknown') {
        const found = await this.findOrder(account, clientOrderId, { priority });
        if (!found.ok) return err(found.error);
        if (found.value) {
          const settled = ok(fromFound(found.value));
          seen.result = settled;
          return settled;
        }
        this.log.warn(
          { credentialId: account.credentialId, clientOrderId },
          'earlier outcome unknown and no trace at the venue; placing again',
        );
      }
      lane.placements.delete(key);
    }
    const entry: Placement = { promise: run(), result: null, at: this.clock.now() };
    lane.placements.set(key, entry);
    this.forgetOld(lane, entry.at);
    if (lane.placements.size > this.cacheOptions.placements) {
      const oldest = lane.placements.keys().next().value;
      if (oldest !== undefined) lane.placements.delete(oldest);
    }
    const result = (await entry.promise) as BrokerResult<T>;
    entry.result = result;
    // Nothing was sent: the next attempt must really try.
    if (!result.ok && (result.error.kind === 'rate_limited' || result.error.kind === 'unavailable')) {
      lane.placements.delete(key);
    }
    return result;
  }

  // ── reads ─────────────────────────────────────────────────────────────────────────────────

  private loadAccounts(
    credentialId: string,
    priority: Priority,
    force: boolean,
  ): Promise<BrokerResult<VenueAccount[]>> {
    const lane = this.lane(credentialId);
    const cached = force ? null : this.cachedAccounts(lane);
    if (cached) return Promise.resolve(ok(cached));
    if (lane.loadingAccounts) return lane.loadingAccounts;
    const loading = this.query(credentialId, { endpoint: 'account/list' }, priority, parseAccountList)
      .then((r) => {
        if (r.ok) lane.accounts = { list: r.value, at: this.clock.now() };
        return r;
      })
      .finally(() => {
        lane.loadingAccounts = null;
      });
    lane.loadingAccounts = loading;
    return loading;
  }

  /** The credential's account list while it is trusted; null when it must be loaded. */
  private cachedAccounts(lane: Lane): VenueAccount[] | null {
    const cached = lane.accounts;
    return cached && this.clock.now() - cached.at < this.cacheOptions.accountsMs ? cached.list : null;
  }

  /** A resolved contract, by name, while it is trusted; null when it must be looked up. */
  private cachedContract(lane: Lane, name: string): ContractInfo | null {
    const cached = lane.contracts.get(name);
    return cached && this.clock.now() - cached.at < this.cacheOptions.contractsMs ? cached.info : null;
  }

  /**
   * The account, when it belongs to the credential; `rejected`/`Unauthorized` otherwise. Answered
   * at once (no promise) when the fresh cached list holds it.
   */
  private account(
    ref: AccountRef,
    priority: Priority,
  ): BrokerResult<VenueAccount> | Promise<BrokerResult<VenueAccount>> {
    if (!VENUE_ID.test(ref.brokerAccountId)) return notOurAccount(ref);
    const id = Number(ref.brokerAccountId);
    const lane = this.lane(ref.credentialId);
    const known = this.cachedAccounts(lane)?.find((a) => a.id === id);
    return known ? ok(known) : this.listedAccount(ref, id, lane, priority);
  }

  private async listedAccount(
    ref: AccountRef,
    id: number,
    lane: Lane,
    priority: Priority,
  ): Promise<BrokerResult<VenueAccount>> {
    const before = lane.accounts?.at;
    const listed = await this.loadAccounts(ref.credentialId, priority, false);
    if (!listed.ok) return listed;
    let found = listed.value.find((a) => a.id === id);
    if (
      !found &&
      before !== undefined &&
      this.clock.now() - before > this.cacheOptions.accountsMissRefreshMs
    ) {
      // A list that old may predate a newly added account: look once more.
      const fresh = await this.loadAccounts(ref.credentialId, priority, true);
      if (!fresh.ok) return fresh;
      found = fresh.value.find((a) => a.id === id);
    }
    return found ? ok(found) : notOurAccount(ref);
  }

  /**
   * The account's orders. `order/deps` first (shared with the credential's other accounts asking
   * at the same moment); when it is empty or fails, `order/list`, which holds every account's
   * orders, so it is filtered to this account (the older system once attached take-profits to the
   * wrong account through that very fallback).
   */
  private async accountOrders(
    credentialId: string,
    accountId: number,
    priority: Priority,
  ): Promise<BrokerResult<VenueOrder[]>> {
    const reads = this.lane(credentialId).reads;
    const deps = await reads.orders.load([accountId], priority);
    if (deps.ok && deps.value.length > 0) return deps;
    if (!deps.ok && deps.error.kind !== 'rejected' && deps.error.reason !== 'UnexpectedPayload') return deps;
    const mine = await reads.orderList.load([accountId], priority);
    if (mine.ok) {
      this.log.debug(
        { credentialId, accountId, kept: mine.value.length },
        'filtered the order/list fallback to this account',
      );
    }
    return mine;
  }

  /** The account's positions, flat ones included. */
  private accountPositions(
    credentialId: string,
    accountId: number,
    priority: Priority,
  ): Promise<BrokerResult<VenuePosition[]>> {
    return this.lane(credentialId).reads.positions.load([accountId], priority);
  }

  /**
   * Children of masters: `deps` for one master, `ldeps` (in chunks) for several, falling back to
   * one `deps` per master when the venue refuses `ldeps`. The answer may hold rows of masters
   * nobody asked for; the batcher above drops them.
   */
  private async depsOf<T>(
    credentialId: string,
    entity: DepsEntity,
    masterIds: readonly number[],
    priority: Priority,
    parse: (body: unknown) => Parsed<T[]>,
  ): Promise<BrokerResult<T[]>> {
    const lane = this.lane(credentialId);
    const one = (id: number) =>
      this.query(credentialId, { endpoint: `${entity}/deps`, query: { masterid: id } }, priority, parse);
    const chunk = async (ids: readonly number[]): Promise<BrokerResult<T[]>> => {
      if (ids.length > 1 && !lane.noLdeps.has(entity)) {
        const many = await this.query(
          credentialId,
          { endpoint: `${entity}/ldeps`, query: { masterids: ids.join(',') } },
          priority,
          parse,
        );
        if (many.ok) return many;
        if (many.error.kind !== 'rejected' && many.error.reason !== 'UnexpectedPayload') return many;
        if (many.error.kind === 'rejected') lane.noLdeps.add(entity);
      }
      const each = await Promise.all(ids.map(one));
      const out: T[] = [];
      for (const r of each) {
        if (!r.ok) return r;
        out.push(...r.value);
      }
      return ok(out);
    };
    const chunks: number[][] = [];
    for (let i = 0; i < masterIds.length; i += LDEPS_CHUNK) chunks.push(masterIds.slice(i, i + LDEPS_CHUNK));
    const answers = await Promise.all(chunks.map(chunk));
    const out: T[] = [];
    for (const r of answers) {
      if (!r.ok) return r;
      out.push(...r.value);
    }
    return ok(out);
  }

  /** The credential's coalesced reads. Account reads are shared only while no mutation intervened. */
  private laneReads(credentialId: string, lane: () => Lane): LaneReads {
    const { readsMs, strategyLinksMs } = this.coalesceOptions;
    const generations = () => lane().generations;
    // Every active account of the credential has asked: nobody else is coming.
    const allAccounts = (asked: ReadonlySet<number>) =>
      lane().accounts?.list.every((a) => !a.active || asked.has(a.id)) ?? false;
    // The credential's only account asking: `deps` for it. Otherwise a `list`, every account's
    // positions in one request, which a later read of any account may share while it is on its way.
    const listsPositions = (ids: readonly number[]) =>
      !lane().noPositionList &&
      (ids.length > 1 || (lane().accounts?.list.filter((a) => a.active).length ?? 0) > 1);
    const dropped = (endpoint: string) => (count: number, masters: readonly number[]) =>
      this.log.warn(
        { credentialId, endpoint, accounts: masters, dropped: count },
        'dropped records of other accounts',
      );
    const byAccount = <T extends { readonly accountId: number }>(
      entity: 'position' | 'order',
      parse: (body: unknown) => Parsed<T[]>,
      list: ((ids: readonly number[]) => boolean) | null,
    ) =>
      new ReadBatcher<T>({
        load: async (ids, priority) => {
          if (list?.(ids)) {
            const all = await this.query(credentialId, { endpoint: `${entity}/list` }, priority, parse);
            if (all.ok || all.error.kind !== 'rejected') return { result: all, all: true };
            lane().noPositionList = true;
          }
          return { result: await this.depsOf(credentialId, entity, ids, priority, parse), all: false };
        },
        masterOf: (row) => row.accountId,
        windowMs: readsMs,
        maxMasters: LDEPS_CHUNK,
        complete: allAccounts,
        ...(list ? { coversAll: list } : {}),
        generations,
        onForeign: dropped(`${entity}/deps`),
      });
    const byOrder = <T extends { readonly orderId: number }>(
      entity: 'orderVersion' | 'command' | 'fill',
      parse: (body: unknown) => Parsed<T[]>,
    ) =>
      new ReadBatcher<T>({
        load: async (ids, priority) => ({
          result: await this.depsOf(credentialId, entity, ids, priority, parse),
          all: false,
        }),
        masterOf: (row) => row.orderId,
        windowMs: readsMs,
        maxMasters: LDEPS_CHUNK,
      });
    return {
      positions: byAccount('position', parsePositionList, listsPositions),
      orders: byAccount('order', parseOrderList, null),
      orderList: new ReadBatcher<VenueOrder>({
        load: async (_ids, priority) => ({
          result: await this.query(credentialId, { endpoint: 'order/list' }, priority, parseOrderList),
          all: true,
        }),
        masterOf: (row) => row.accountId,
        windowMs: readsMs,
        maxMasters: Number.MAX_SAFE_INTEGER,
        complete: allAccounts,
        coversAll: () => true,
        generations,
      }),
      versions: byOrder('orderVersion', parseOrderVersionList),
      commands: byOrder('command', parseCommandList),
      fills: byOrder('fill', parseFillList),
      strategyLinks: new ReadBatcher<VenueOrderStrategyLink>({
        load: async (ids, priority) => ({
          result: await this.depsOf(
            credentialId,
            'orderStrategyLink',
            ids,
            priority,
            parseOrderStrategyLinkList,
          ),
          all: false,
        }),
        masterOf: (row) => row.orderStrategyId,
        windowMs: strategyLinksMs,
        maxMasters: LDEPS_CHUNK,
        complete: () => lane().startsInFlight === 0,
      }),
    };
  }

  /**
   * The entry order of a bracket strategy of this credential: from the event stream when its link
   * has been seen there, else looked up together with the credential's other strategies.
   */
  private async strategyEntryOf(
    credentialId: string,
    strategyId: number,
    priority: Priority,
  ): Promise<number | null> {
    const lane = this.lane(credentialId);
    const streamed = lane.streamedLinks.get(strategyId);
    if (streamed?.some((l) => /entry|^main$/i.test(l.label))) return strategyEntryOrderId(streamed);
    const links = await lane.reads.strategyLinks.load([strategyId], priority);
    return links.ok ? strategyEntryOrderId(links.value) : null;
  }

  /** Orders with their current version, client order id, contract name and (optionally) fills. */
  private async describeOrders(
    credentialId: string,
    orders: readonly VenueOrder[],
    priority: Priority,
    withFills: boolean,
  ): Promise<BrokerResult<BrokerOrder[]>> {
    if (orders.length === 0) return ok([]);
    const ids = orders.map((o) => o.id);
    const reads = this.lane(credentialId).reads;
    const [versions, commands, names, fills] = await Promise.all([
      reads.versions.load(ids, priority),
      reads.commands.load(ids, priority),
      this.contractNames(
        credentialId,
        orders.map((o) => o.contractId).filter((c): c is number => c !== null),
        priority,
      ),
      withFills ? reads.fills.load(ids, priority) : Promise.resolve(ok([] as VenueFill[])),
    ]);
    if (!versions.ok) return versions;
    if (!commands.ok) return commands;
    if (!names.ok) return names;
    if (!fills.ok) return fills;
    const latest = latestVersions(versions.value);
    const clOrdIds = clientOrderIds(commands.value);
    return ok(
      orders.map((o) => {
        const version = latest.get(o.id) ?? null;
        if (version) this.remember(credentialId, o.id, o.accountId, version.orderType);
        return toBrokerOrder(o, {
          version,
          contractName: o.contractId !== null ? (names.value.get(o.contractId) ?? String(o.contractId)) : '',
          clientOrderId: clOrdIds.get(o.id) ?? null,
          ...(withFills ? { fills: fills.value.filter((f) => f.orderId === o.id) } : {}),
        });
      }),
    );
  }

  private async contractNames(
    credentialId: string,
    contractIds: readonly number[],
    priority: Priority,
  ): Promise<BrokerResult<Map<number, string>>> {
    const lane = this.lane(credentialId);
    const missing = [...new Set(contractIds)].filter((id) => !lane.contractNames.has(id));
    // Several accounts holding the same unknown contract ask for its name once.
    const fetched = await Promise.all(
      missing.map((id) => {
        let naming = lane.naming.get(id);
        if (!naming) {
          naming = this.query(
            credentialId,
            { endpoint: 'contract/item', query: { id } },
            priority,
            parseContract,
          ).then((r) => {
            lane.naming.delete(id);
            if (r.ok && r.value) lane.contractNames.set(r.value.id, r.value.name);
            return r;
          });
          lane.naming.set(id, naming);
        }
        return naming;
      }),
    );
    for (const r of fetched) if (!r.ok && r.error.reason !== 'NotFound') return r;
    return ok(lane.contractNames);
  }

  /** The entry order of the bracket strategy started with this client order id (its `uuid`). */
  private async strategyEntry(
    credentialId: string,
    accountId: number,
    clientOrderId: string,
    priority: Priority,
  ): Promise<BrokerResult<number | null>> {
    const strategies = await this.query(
      credentialId,
      { endpoint: 'orderStrategy/deps', query: { masterid: accountId } },
      priority,
      parseOrderStrategyList,
    );
    if (!strategies.ok) return strategies.error.kind === 'rejected' ? ok(null) : strategies;
    const strategy = strategies.value.find((s) => s.accountId === accountId && s.uuid === clientOrderId);
    if (!strategy) return ok(null);
    const links = await this.lane(credentialId).reads.strategyLinks.load([strategy.id], priority);
    if (!links.ok) return links;
    return ok(strategyEntryOrderId(links.value));
  }

  /** The order, when it belongs to the account; `rejected` otherwise, without touching it. */
  private async ownedOrder(
    credentialId: string,
    accountId: number,
    orderId: string,
    priority: Priority,
  ): Promise<BrokerResult<{ orderType: string; version: BrokerResult<VenueOrderVersion | null> | null }>> {
    const refuse = () =>
      err(rejected('UnknownOrder', `order ${orderId} is not an order of account ${accountId}`));
    if (!VENUE_ID.test(orderId)) return refuse();
    const id = Number(orderId);
    const known = this.lane(credentialId).orders.get(id);
    if (known)
      return known.accountId === accountId ? ok({ orderType: known.orderType, version: null }) : refuse();
    const order = await this.query(
      credentialId,
      { endpoint: 'order/item', query: { id } },
      priority,
      parseOrder,
    );
    if (!order.ok) return order.error.reason === 'NotFound' ? refuse() : order;
    if (!order.value || order.value.accountId !== accountId) return refuse();
    const version = await this.currentVersion(credentialId, id, priority);
    if (!version.ok) return version;
    if (!version.value) return refuse();
    this.remember(credentialId, id, accountId, version.value.orderType);
    return ok({ orderType: version.value.orderType, version });
  }

  private async currentVersion(
    credentialId: string,
    orderId: number,
    priority: Priority,
  ): Promise<BrokerResult<VenueOrderVersion | null>> {
    const versions = await this.query(
      credentialId,
      { endpoint: 'orderVersion/deps', query: { masterid: orderId } },
      priority,
      parseOrderVersionList,
    );
    if (!versions.ok) return versions;
    return ok(latestVersions(versions.value).get(orderId) ?? null);
  }

  // ── plumbing ──────────────────────────────────────────────────────────────────────────────

  private async query<T>(
    credentialId: string,
    request: VenueRequest,
    priority: Priority,
    parse: (body: unknown) => Parsed<T>,
  ): Promise<BrokerResult<T>> {
    const r = await this.client.call(credentialId, request, { mutation: false, priority });
    if (!r.ok) return r;
    const parsed = parse(r.value);
    if (parsed.ok) return parsed;
    this.log.warn(
      { credentialId, endpoint: request.endpoint, problem: parsed.error.message },
      'unreadable venue answer',
    );
    return err(unavailable('UnexpectedPayload', `${request.endpoint}: ${parsed.error.message}`));
  }

  /** A mutation of one account. Reads of the account sent before it ends are not shared after it. */
  private async mutate<T>(
    credentialId: string,
    accountId: number,
    request: VenueRequest,
    priority: Priority,
    parse: (body: unknown) => Parsed<T>,
  ): Promise<BrokerResult<T>> {
    this.touch(credentialId, accountId);
    let r: Result<unknown, BrokerError>;
    try {
      r = await this.client.call(credentialId, request, { mutation: true, priority });
    } finally {
      this.touch(credentialId, accountId);
    }
    if (!r.ok) return r;
    const parsed = parse(r.value);
    if (parsed.ok) return parsed;
    this.log.error(
      { credentialId, endpoint: request.endpoint, problem: parsed.error.message },
      'unreadable answer to a mutation',
    );
    // The venue answered 200, so it probably acted; only a lookup can tell.
    return err(outcomeUnknown('UnexpectedPayload', `${request.endpoint}: ${parsed.error.message}`));
  }

  private remember(credentialId: string, orderId: number, accountId: number, orderType: string): void {
    const lane = this.lane(credentialId);
    const orders = lane.orders;
    const at = this.clock.now();
    // Re-inserted, so the map stays in the order things were remembered: the oldest come first.
    orders.delete(orderId);
    orders.set(orderId, { accountId, orderType, at });
    this.forgetOld(lane, at);
    if (orders.size > this.cacheOptions.placements * 3) {
      const oldest = orders.keys().next().value;
      if (oldest !== undefined) orders.delete(oldest);
    }
  }

  /**
   * Drop answered placements and remembered orders older than their windows. Both maps are in
   * insertion order, so this stops at the first young entry. A placement still waiting for its
   * answer is kept whatever its age (a repeat must share it), and so is one whose outcome is
   * unknown (a repeat of it must look the order up before placing anything); those move to the
   * back, so the next pass does not walk over them again.
   */
  private forgetOld(lane: Lane, now: number): void {
    const { placementsMs, ordersMs } = this.cacheOptions;
    let kept: [string, Placement][] | null = null;
    for (const [key, p] of lane.placements) {
      if (now - p.at < placementsMs) break;
      lane.placements.delete(key);
      if (!p.result || (!p.result.ok && p.result.error.kind === 'outcome_unknown')) {
        kept ??= [];
        kept.push([key, p]);
      }
    }
    for (const [key, p] of kept ?? []) {
      p.at = now;
      lane.placements.set(key, p);
    }
    for (const [id, o] of lane.orders) {
      if (now - o.at < ordersMs) break;
      lane.orders.delete(id);
    }
  }

  /**
   * Forget what every credential's windows have let go of, including credentials that have not
   * traded since (the periodic sweep; placing and remembering prune their own credential as they go).
   */
  forgetExpired(): void {
    const now = this.clock.now();
    for (const lane of this.lanes.values()) this.forgetOld(lane, now);
  }

  /** Placements and orders remembered across all credentials, for diagnostics and tests. */
  cacheStats(): { placements: number; orders: number } {
    let placements = 0;
    let orders = 0;
    for (const lane of this.lanes.values()) {
      placements += lane.placements.size;
      orders += lane.orders.size;
    }
    return { placements, orders };
  }

  /** The account changed (or may have): move its generation so no earlier read is shared. */
  private touch(credentialId: string, accountId: number): void {
    const generations = this.lane(credentialId).generations;
    generations.set(accountId, (generations.get(accountId) ?? 0) + 1);
  }

  private lane(credentialId: string): Lane {
    let lane = this.lanes.get(credentialId);
    if (!lane) {
      const created: Lane = {
        accounts: null,
        loadingAccounts: null,
        contracts: new Map(),
        resolving: new Map(),
        contractNames: new Map(),
        naming: new Map(),
        orders: new Map(),
        placements: new Map(),
        generations: new Map(),
        noLdeps: new Set(),
        noPositionList: false,
        startsInFlight: 0,
        streamedLinks: new Map(),
        reads: this.laneReads(credentialId, () => created),
      };
      lane = created;
      this.lanes.set(credentialId, lane);
    }
    return lane;
  }

  private onSocketEvent(credentialId: string, event: string, data: unknown): void {
    if (event === 'props') {
      const parsed = parsePropsEvent(data);
      if (!parsed.ok) {
        this.log.debug({ credentialId, problem: parsed.error.message }, 'unreadable props event');
        return;
      }
      this.observe(credentialId, parsed.value);
      this.options.onEvent?.({ type: 'props', credentialId, ...parsed.value });
      return;
    }
    if (event === 'shutdown') {
      const s = parseShutdownEvent(data);
      this.log.warn(
        { credentialId, reasonCode: s.reasonCode, reason: s.reason },
        'venue asked the socket to shut down',
      );
      this.options.onEvent?.({ type: 'shutdown', credentialId, reasonCode: s.reasonCode, reason: s.reason });
    }
  }

  /**
   * A venue event about the credential's entities: the accounts it concerns count as changed, and
   * strategy links are kept so a placement can name its entry order without asking.
   */
  private observe(credentialId: string, event: PropsEvent): void {
    const lane = this.lanes.get(credentialId);
    if (!lane || REFERENCE_ENTITIES.has(event.entityType)) return;
    for (const entity of event.entities) {
      const orderId = venueId(entity.orderId);
      const accountId =
        venueId(entity.accountId) ??
        (orderId !== null ? (lane.orders.get(orderId)?.accountId ?? null) : null);
      if (accountId !== null) {
        this.touch(credentialId, accountId);
        continue;
      }
      // Not attributable to one account: none of the credential's earlier reads is shared any more.
      for (const a of lane.accounts?.list ?? []) this.touch(credentialId, a.id);
    }
    if (event.entityType !== 'orderStrategyLink' || event.eventType === 'Deleted') return;
    const links = parseOrderStrategyLinkList(event.entities);
    if (!links.ok) return;
    for (const link of links.value) {
      const known = lane.streamedLinks.get(link.orderStrategyId) ?? [];
      if (!known.some((l) => l.id === link.id)) known.push(link);
      lane.streamedLinks.set(link.orderStrategyId, known);
    }
    while (lane.streamedLinks.size > STREAMED_LINKS) {
      const oldest = lane.streamedLinks.keys().next().value;
      if (oldest === undefined) break;
      lane.streamedLinks.delete(oldest);
    }
  }

  /** Subscribe the fresh socket to the user's entity events. */
  private async sync(credentialId: string, socket: TradovateSocket): Promise<void> {
    const lane = this.lane(credentialId);
    const userId =
      this.tokens.userId(credentialId) ?? lane.accounts?.list.find((a) => a.userId !== null)?.userId ?? null;
    const body =
      userId !== null
        ? { users: [userId] }
        : lane.accounts
          ? { accounts: lane.accounts.list.map((a) => a.id) }
          : {};
    const answer = await socket.request({ endpoint: 'user/syncrequest', body }, this.timeouts.requestMs);
    const status = answer.kind === 'response' ? answer.status : answer.failure;
    this.log.debug({ credentialId, status }, 'user sync requested');
  }

  /** With sync on, the socket carries events nobody asks for: bring it back after the backoff. */
  private onSocketDrop(credentialId: string, retryInMs: number): void {
    if (!this.poolOptions.sync || this.closed) return;
    const timer = setTimeout(async () => {
      this.reconnects.delete(timer);
      if (this.closed || this.health.refusal(credentialId)) return;
      const token = await this.tokens.get(credentialId);
      if (token.ok) await this.pool.acquire(credentialId, token.value.token);
    }, retryInMs + 1);
    timer.unref();
    this.reconnects.add(timer);
  }
}

function checkOrder(request: OrderRequest): BrokerError | null {
  if (request.clientOrderId.length === 0 || request.clientOrderId.length > 64) {
    return rejected('InvalidClientOrderId', 'a client order id has 1 to 64 characters');
  }
  if (!Number.isInteger(request.quantity) || request.quantity <= 0) {
    return rejected('InvalidQuantity', 'quantity must be a positive whole number');
  }
  if (request.type === 'limit' && request.price === undefined)
    return rejected('InvalidPrice', 'a limit order needs a price');
  if (request.type === 'stop' && request.stopPrice === undefined)
    return rejected('InvalidPrice', 'a stop order needs a stop price');
  return null;
}

function orderBody(request: OrderRequest, account: VenueAccount): Record<string, unknown> {
  const body: Record<string, unknown> = {
    accountSpec: account.name,
    accountId: account.id,
    clOrdId: request.clientOrderId,
    action: toAction(request.side),
    symbol: request.contract,
    orderQty: request.quantity,
    orderType: toVenueOrderType(request.type),
    isAutomated: true,
  };
  if (request.type === 'limit') body.price = request.price;
  if (request.type === 'stop') body.stopPrice = request.stopPrice;
  return body;
}

/** The order as placed; the venue has acknowledged it, its fills come later. */
function placedOrder(request: OrderRequest, orderId: number): BrokerOrder {
  return {
    orderId: String(orderId),
    clientOrderId: request.clientOrderId,
    brokerAccountId: request.account.brokerAccountId,
    contract: request.contract,
    side: request.side,
    type: request.type,
    quantity: request.quantity,
    filledQuantity: 0,
    price: request.type === 'limit' ? (request.price ?? null) : null,
    stopPrice: request.type === 'stop' ? (request.stopPrice ?? null) : null,
    status: request.type === 'market' ? 'pending' : 'working',
    averageFillPrice: null,
    parentOrderId: null,
  };
}
