/**
 * Tradovate's entity model (reference §5.1 and Appendix A): typed shapes, a store that answers the
 * generic operations (`list`, `item`, `items`, `find`, `deps`, `ldeps`, `suggest`) for every entity
 * type the same way, and the reference data (products, maturities, contracts) a client resolves
 * symbols against.
 */
import { PRODUCTS } from '../../../src/domain/symbols.js';

export type Action = 'Buy' | 'Sell';
export type OrdStatus =
  | 'PendingNew'
  | 'Working'
  | 'Suspended'
  | 'Filled'
  | 'Canceled'
  | 'Rejected'
  | 'Expired'
  | 'Completed';
export type OrderType =
  | 'Market'
  | 'Limit'
  | 'Stop'
  | 'StopLimit'
  | 'MIT'
  | 'QTS'
  | 'TrailingStop'
  | 'TrailingStopLimit';
export type EventType = 'Created' | 'Updated' | 'Deleted';

export interface TradeDate {
  readonly year: number;
  readonly month: number;
  readonly day: number;
}

export interface UserEntity {
  id: number;
  name: string;
  timestamp: string;
  email: string;
  status: 'Active';
  professional: boolean;
}

export interface AccountEntity {
  id: number;
  name: string;
  userId: number;
  accountType: 'Customer';
  active: boolean;
  clearingHouseId: number;
  riskCategoryId: number;
  autoLiqProfileId: number;
  marginAccountType: 'Speculator';
  legalStatus: 'Individual';
  archived: boolean;
  timestamp: string;
}

export interface ProductEntity {
  id: number;
  name: string;
  currencyId: number;
  productType: 'Futures';
  description: string;
  exchangeId: number;
  contractGroupId: number;
  status: 'Verified';
  months: string;
  valuePerPoint: number;
  priceFormatType: 'Decimal';
  priceFormat: number;
  tickSize: number;
  isMicro: boolean;
}

export interface ContractMaturityEntity {
  id: number;
  productId: number;
  expirationMonth: number;
  expirationDate: string;
  isFront: boolean;
  archived: boolean;
}

export interface ContractEntity {
  id: number;
  name: string;
  contractMaturityId: number;
  status: 'DefinitionChecked';
  providerTickSize: number;
}

export interface OrderEntity {
  id: number;
  accountId: number;
  contractId: number;
  timestamp: string;
  action: Action;
  ordStatus: OrdStatus;
  executionProviderId?: number;
  ocoId?: number;
  parentId?: number;
  linkedId?: number;
  admin: boolean;
}

export interface OrderVersionEntity {
  id: number;
  orderId: number;
  orderQty: number;
  orderType: OrderType;
  price?: number;
  stopPrice?: number;
  timeInForce: string;
  text?: string;
}

export interface CommandEntity {
  id: number;
  orderId: number;
  timestamp: string;
  clOrdId?: string;
  commandType: 'New' | 'Modify' | 'Cancel';
  commandStatus: 'RiskPassed' | 'RiskRejected' | 'ExecutionRejected' | 'AtExecution' | 'Replaced' | 'OnHold';
  senderId: number;
  userSessionId: number;
  isAutomated: boolean;
  customTag50?: string;
  /** Not a Tradovate field: lets `deps` and visibility reach the command without joining through the order. */
  accountId: number;
}

export interface CommandReportEntity {
  id: number;
  commandId: number;
  timestamp: string;
  commandStatus: CommandEntity['commandStatus'];
  rejectReason?: string;
  text?: string;
  ordStatus?: OrdStatus;
  accountId: number;
}

export interface ExecutionReportEntity {
  id: number;
  commandId: number;
  name: string;
  accountId: number;
  contractId: number;
  timestamp: string;
  tradeDate: TradeDate;
  orderId: number;
  execType: 'New' | 'Trade' | 'Canceled' | 'Rejected' | 'Replaced';
  ordStatus: OrdStatus;
  action: Action;
  cumQty: number;
  avgPx?: number;
  lastQty?: number;
  lastPx?: number;
  rejectReason?: string;
  text?: string;
}

export interface FillEntity {
  id: number;
  orderId: number;
  contractId: number;
  timestamp: string;
  tradeDate: TradeDate;
  action: Action;
  qty: number;
  price: number;
  active: boolean;
  finallyPaired: number;
  accountId: number;
}

export interface PositionEntity {
  id: number;
  accountId: number;
  contractId: number;
  timestamp: string;
  tradeDate: TradeDate;
  netPos: number;
  netPrice?: number;
  bought: number;
  boughtValue: number;
  sold: number;
  soldValue: number;
  prevPos: number;
  prevPrice?: number;
}

export interface OrderStrategyEntity {
  id: number;
  accountId: number;
  timestamp: string;
  contractId: number;
  orderStrategyTypeId: number;
  action: Action;
  params: string;
  uuid?: string;
  status:
    | 'ActiveStrategy'
    | 'ExecutionFinished'
    | 'ExecutionFailed'
    | 'ExecutionInterrupted'
    | 'StoppedByUser';
  failureMessage?: string;
  senderId: number;
  customTag50?: string;
}

export interface OrderStrategyLinkEntity {
  id: number;
  orderStrategyId: number;
  orderId: number;
  label: string;
  accountId: number;
}

export interface CashBalanceEntity {
  id: number;
  accountId: number;
  timestamp: string;
  tradeDate: TradeDate;
  currencyId: number;
  amount: number;
  realizedPnL: number;
  weekRealizedPnL: number;
}

export interface EntityTypes {
  user: UserEntity;
  account: AccountEntity;
  currency: { id: number; name: string; symbol: string };
  exchange: { id: number; name: string };
  contractGroup: { id: number; name: string };
  product: ProductEntity;
  contractMaturity: ContractMaturityEntity;
  contract: ContractEntity;
  orderStrategyType: { id: number; name: string; enabled: boolean };
  order: OrderEntity;
  orderVersion: OrderVersionEntity;
  command: CommandEntity;
  commandReport: CommandReportEntity;
  executionReport: ExecutionReportEntity;
  fill: FillEntity;
  position: PositionEntity;
  orderStrategy: OrderStrategyEntity;
  orderStrategyLink: OrderStrategyLinkEntity;
  cashBalance: CashBalanceEntity;
}

export type EntityType = keyof EntityTypes;
export type AnyEntity = EntityTypes[EntityType];

/** The master field `deps?masterid=` filters on, per child entity (reference §5.1). */
const MASTER_FIELD: Partial<Record<EntityType, string>> = {
  account: 'userId',
  order: 'accountId',
  position: 'accountId',
  orderStrategy: 'accountId',
  cashBalance: 'accountId',
  command: 'orderId',
  orderVersion: 'orderId',
  fill: 'orderId',
  commandReport: 'commandId',
  executionReport: 'commandId',
  orderStrategyLink: 'orderStrategyId',
  contractMaturity: 'productId',
  product: 'exchangeId',
  contract: 'contractMaturityId',
};

/** Reference data every user sees; the rest is visible through its account. */
const SHARED: ReadonlySet<EntityType> = new Set([
  'currency',
  'exchange',
  'contractGroup',
  'product',
  'contractMaturity',
  'contract',
  'orderStrategyType',
]);

/** Fields the simulator keeps for its own joins, stripped from what clients see. */
const HIDDEN_ACCOUNT_ID: ReadonlySet<EntityType> = new Set([
  'command',
  'commandReport',
  'fill',
  'orderStrategyLink',
]);

/** Sync snapshot keys, by entity type. */
export const PLURAL: Readonly<Record<EntityType, string>> = {
  user: 'users',
  account: 'accounts',
  currency: 'currencies',
  exchange: 'exchanges',
  contractGroup: 'contractGroups',
  product: 'products',
  contractMaturity: 'contractMaturities',
  contract: 'contracts',
  orderStrategyType: 'orderStrategyTypes',
  order: 'orders',
  orderVersion: 'orderVersions',
  command: 'commands',
  commandReport: 'commandReports',
  executionReport: 'executionReports',
  fill: 'fills',
  position: 'positions',
  orderStrategy: 'orderStrategies',
  orderStrategyLink: 'orderStrategyLinks',
  cashBalance: 'cashBalances',
};

export interface EntityChange {
  readonly entityType: EntityType;
  readonly eventType: EventType;
  /** The client-facing JSON. */
  readonly entity: Record<string, unknown>;
  /** The account the change belongs to; null for reference data and users. */
  readonly accountId: number | null;
}

/** Who is asking: the user and the accounts it may see. */
export interface Viewer {
  readonly userId: number;
  readonly accountIds: ReadonlySet<number>;
}

const ID_BASE: Partial<Record<EntityType, number>> = {
  order: 310_000_000,
  orderVersion: 310_000_000,
  command: 310_000_000,
  commandReport: 410_000_000,
  executionReport: 510_000_000,
  fill: 610_000_000,
  position: 710_000_000,
  orderStrategy: 810_000_000,
  orderStrategyLink: 820_000_000,
  cashBalance: 910_000_000,
};

export class EntityStore {
  private readonly tables = new Map<EntityType, IdTable<AnyEntity>>();
  /** Ids by master id, per type (`order` by account, `command` by order...), for `deps` and `ldeps`. */
  private readonly byMaster = new Map<EntityType, ChainIndex>();
  /** Ids by the account they belong to, per account-scoped type, for `list`. */
  private readonly byAccount = new Map<EntityType, ChainIndex>();
  private readonly seq = new Map<EntityType, number>();
  private readonly listeners: ((change: EntityChange) => void)[] = [];

  onChange(listener: (change: EntityChange) => void): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /**
   * The next id of a type. Commands and order versions share the order sequence because a client
   * may read `orderVersion/item?id=<command id>` (the C# sample does).
   */
  nextId(type: EntityType): number {
    const key: EntityType = type === 'command' || type === 'orderVersion' ? 'order' : type;
    const next = (this.seq.get(key) ?? ID_BASE[key] ?? 1_000) + 1;
    this.seq.set(key, next);
    return next;
  }

  /** Insert or replace, and tell the listeners (`props` events). Master and account never change. */
  put<T extends EntityType>(type: T, entity: EntityTypes[T]): EntityTypes[T] {
    const created = this.table(type).set(entity.id, entity);
    const eventType: EventType = created ? 'Created' : 'Updated';
    if (created) {
      const field = MASTER_FIELD[type];
      if (field) addTo(this.byMaster, type, (entity as unknown as Record<string, number>)[field]!, entity.id);
      const accountId = this.accountOf(type, entity);
      if (accountId !== null && !SHARED.has(type)) addTo(this.byAccount, type, accountId, entity.id);
    }
    this.emit(type, eventType, entity);
    return entity;
  }

  /** Change some fields of a stored entity in place and announce it. */
  update<T extends EntityType>(
    type: T,
    id: number,
    patch: Partial<EntityTypes[T]>,
  ): EntityTypes[T] | undefined {
    const current = this.get(type, id);
    if (!current) return undefined;
    Object.assign(current, patch);
    this.emit(type, 'Updated', current);
    return current;
  }

  get<T extends EntityType>(type: T, id: number): EntityTypes[T] | undefined {
    return this.table(type).get(id) as EntityTypes[T] | undefined;
  }

  all<T extends EntityType>(type: T): EntityTypes[T][] {
    return this.table(type).values() as EntityTypes[T][];
  }

  where<T extends EntityType>(type: T, predicate: (e: EntityTypes[T]) => boolean): EntityTypes[T][] {
    return this.all(type).filter(predicate);
  }

  /** The account an entity belongs to; null for reference data and users. */
  accountOf(type: EntityType, entity: AnyEntity): number | null {
    if (type === 'account') return entity.id;
    if (type === 'orderVersion') {
      return this.get('order', (entity as OrderVersionEntity).orderId)?.accountId ?? null;
    }
    return (entity as { accountId?: number }).accountId ?? null;
  }

  visible(type: EntityType, entity: AnyEntity, viewer: Viewer): boolean {
    if (SHARED.has(type)) return true;
    if (type === 'user') return entity.id === viewer.userId;
    const accountId = this.accountOf(type, entity);
    return accountId !== null && viewer.accountIds.has(accountId);
  }

  /** `{entity}/list`, in id order. */
  list(type: EntityType, viewer: Viewer): Record<string, unknown>[] {
    if (SHARED.has(type) || type === 'user') {
      return this.all(type)
        .filter((e) => this.visible(type, e, viewer))
        .map((e) => toJson(type, e));
    }
    const index = this.byAccount.get(type);
    const ids: number[] = [];
    if (index) for (const accountId of viewer.accountIds) index.collect(accountId, ids);
    return this.jsonOf(
      type,
      ids.sort((a, b) => a - b),
    );
  }

  /** `{entity}/item?id=`: undefined means 404. */
  item(type: EntityType, id: number, viewer: Viewer): Record<string, unknown> | undefined {
    const e = this.get(type, id);
    return e && this.visible(type, e, viewer) ? toJson(type, e) : undefined;
  }

  /** `{entity}/find?name=`: exact name. */
  find(type: EntityType, name: string, viewer: Viewer): Record<string, unknown> | undefined {
    const e = this.all(type).find(
      (x) => (x as { name?: string }).name === name && this.visible(type, x, viewer),
    );
    return e ? toJson(type, e) : undefined;
  }

  /** `{entity}/suggest?t=&l=`: names starting with the text, case-insensitive. */
  suggest(type: EntityType, text: string, limit: number, viewer: Viewer): Record<string, unknown>[] {
    const t = text.toUpperCase();
    return this.all(type)
      .filter(
        (e) =>
          ((e as { name?: string }).name ?? '').toUpperCase().startsWith(t) && this.visible(type, e, viewer),
      )
      .slice(0, limit)
      .map((e) => toJson(type, e));
  }

  /** `{entity}/deps?masterid=` and `ldeps?masterids=`, in id order; null when the type has no master. */
  deps(type: EntityType, masterIds: readonly number[], viewer: Viewer): Record<string, unknown>[] | null {
    if (!MASTER_FIELD[type]) return null;
    const index = this.byMaster.get(type);
    const ids: number[] = [];
    if (index) for (const masterId of new Set(masterIds)) index.collect(masterId, ids);
    return this.jsonOf(
      type,
      ids.filter((id) => this.visible(type, this.get(type, id)!, viewer)).sort((a, b) => a - b),
    );
  }

  private jsonOf(type: EntityType, ids: readonly number[]): Record<string, unknown>[] {
    return ids.map((id) => toJson(type, this.get(type, id)!));
  }

  private table(type: EntityType): IdTable<AnyEntity> {
    let t = this.tables.get(type);
    if (!t) {
      t = new IdTable();
      this.tables.set(type, t);
    }
    return t;
  }

  private emit(type: EntityType, eventType: EventType, entity: AnyEntity): void {
    if (this.listeners.length === 0) return;
    // The JSON copy is made once, and only when a listener reads it (a synced socket sees the change).
    let json: Record<string, unknown> | null = null;
    const change: EntityChange = {
      entityType: type,
      eventType,
      get entity() {
        json ??= toJson(type, entity);
        return json;
      },
      accountId: SHARED.has(type) ? null : this.accountOf(type, entity),
    };
    for (const l of [...this.listeners]) l(change);
  }
}

/** Ids are indexed once, when created, so a key's chain holds each id once. */
function addTo(index: Map<EntityType, ChainIndex>, type: EntityType, key: number, id: number): void {
  let byKey = index.get(type);
  if (!byKey) {
    byKey = new ChainIndex();
    index.set(type, byKey);
  }
  byKey.add(key, id);
}

/**
 * Ids by key, each key's ids chained newest first through the ids themselves: no array per key, so
 * indexing a new entity allocates nothing that the garbage collector has to carry.
 */
class ChainIndex {
  private readonly newest = new IdTable<number>();
  private readonly previous = new IdTable<number>();

  add(key: number, id: number): void {
    const head = this.newest.get(key);
    if (head !== undefined) this.previous.set(id, head);
    this.newest.set(key, id);
  }

  /** Append the key's ids, newest first. */
  collect(key: number, into: number[]): void {
    for (let id = this.newest.get(key); id !== undefined; id = this.previous.get(id)) into.push(id);
  }
}

/** How far past the highest id a new id may land and still be kept in the dense part. */
const DENSE_GAP = 4_096;

/**
 * Values by numeric id. The ids a venue hands out grow one by one, so most live in an array indexed
 * from the first id seen (a hash map with millions of entries spends its time rehashing and missing
 * the cache); any other id goes to a map. `values()` lists the dense part in id order, then the rest
 * in insertion order.
 */
export class IdTable<T> {
  private base = -1;
  private readonly dense: (T | undefined)[] = [];
  private readonly sparse = new Map<number, T>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(id: number): T | undefined {
    const i = id - this.base;
    if (this.base >= 0 && i >= 0 && i < this.dense.length) return this.dense[i];
    return this.sparse.get(id);
  }

  /** Store the value; true when the id was new. */
  set(id: number, value: T): boolean {
    if (this.base < 0 && Number.isSafeInteger(id) && id >= 0) this.base = id;
    const i = id - this.base;
    if (Number.isSafeInteger(id) && i >= 0 && i < this.dense.length + DENSE_GAP) {
      while (this.dense.length < i) this.dense.push(undefined);
      const fresh = this.dense[i] === undefined;
      this.dense[i] = value;
      if (fresh) this.count++;
      return fresh;
    }
    const fresh = !this.sparse.has(id);
    this.sparse.set(id, value);
    if (fresh) this.count++;
    return fresh;
  }

  values(): T[] {
    const out: T[] = [];
    for (const v of this.dense) if (v !== undefined) out.push(v);
    for (const v of this.sparse.values()) out.push(v);
    return out;
  }
}

/** The client-facing JSON of an entity: a copy, without the simulator's join fields. */
export function toJson(type: EntityType, entity: AnyEntity): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...entity };
  if (HIDDEN_ACCOUNT_ID.has(type)) delete copy.accountId;
  return copy;
}

/** Entity names as Tradovate spells them in endpoints (`orderStrategy`), by lowercase form. */
export const ENTITY_BY_LOWER: ReadonlyMap<string, EntityType> = new Map(
  (Object.keys(PLURAL) as EntityType[]).map((t) => [t.toLowerCase(), t]),
);

export function tradeDate(ms: number): TradeDate {
  const d = new Date(ms);
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

/** Product ids by root, for contracts to point at. */
export const PRODUCT_IDS: ReadonlyMap<string, number> = new Map(
  [...PRODUCTS.keys()].map((root, i) => [root, 801 + i]),
);

/** Currencies, the exchange, products and the brackets strategy type: what every user sees. */
export function seedReferenceData(store: EntityStore): void {
  store.put('currency', { id: 1, name: 'USD', symbol: '$' });
  store.put('exchange', { id: 2, name: 'CME' });
  store.put('contractGroup', { id: 20, name: 'Futures' });
  store.put('orderStrategyType', { id: 2, name: 'Brackets', enabled: true });
  for (const p of PRODUCTS.values()) {
    store.put('product', {
      id: PRODUCT_IDS.get(p.root)!,
      name: p.root,
      currencyId: 1,
      productType: 'Futures',
      description: p.description,
      exchangeId: 2,
      contractGroupId: 20,
      status: 'Verified',
      months: p.months,
      valuePerPoint: p.pointValue,
      priceFormatType: 'Decimal',
      priceFormat: -decimals(p.tickSize),
      tickSize: p.tickSize,
      isMicro: p.description.startsWith('Micro'),
    });
  }
}

function decimals(tickSize: number): number {
  const s = tickSize.toString();
  const dot = s.indexOf('.');
  return dot < 0 ? 0 : s.length - dot - 1;
}
