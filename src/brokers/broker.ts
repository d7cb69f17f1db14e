/**
 * The broker port: everything the engine and the jobs need from a brokerage, and nothing more.
 * Implementations: `paper/` (an in-process exchange) and `tradovate/`. The engine never imports a
 * venue folder; `app.ts` builds the concrete broker and hands it over.
 *
 * Rules every implementation keeps:
 * - Every call is scoped to one account of one credential. An implementation never returns or
 *   touches another account's orders or positions, even when the venue's answer contains them.
 * - Mutations carry the caller's client order id; placing the same client order id twice returns
 *   the first order and places nothing.
 * - Failures come back as {@link BrokerError} values; exceptions are bugs.
 * - Orders are marked as automated where the venue has such a flag.
 */
import type { Result } from '../domain/result.js';
import type { BrokerName, Side } from '../domain/types.js';
import type { BrokerError } from './errors.js';

export type BrokerResult<T> = Result<T, BrokerError>;

/** One account of one credential. `credentialId` is ours; `brokerAccountId` is the venue's. */
export interface AccountRef {
  readonly credentialId: string;
  readonly brokerAccountId: string;
}

/** Scheduling hints: placement goes ahead of queries when a budget is tight. */
export interface CallOptions {
  /** `order` for placement and exits, `query` for reads, `background` for reconciliation. */
  readonly priority?: 'order' | 'query' | 'background';
}

export interface BrokerAccountInfo {
  readonly brokerAccountId: string;
  readonly name: string;
  readonly active: boolean;
}

export interface ContractInfo {
  /** The venue's contract id. */
  readonly id: string;
  /** The exact contract name, e.g. `MNQZ6`. */
  readonly name: string;
  /** The product root, e.g. `MNQ`. */
  readonly root: string;
  /** Minimum price increment, in price points. */
  readonly tickSize: number;
  /** Currency value of one price point per contract. */
  readonly pointValue: number;
}

export type OrderType = 'market' | 'limit' | 'stop';
export type OrderStatus = 'pending' | 'working' | 'filled' | 'canceled' | 'rejected';

export interface OrderRequest {
  readonly account: AccountRef;
  /** Ours, unique per order, at most 64 characters; the idempotency key at the broker. */
  readonly clientOrderId: string;
  /** Exact contract name from {@link Broker.resolveContract}. */
  readonly contract: string;
  readonly side: Side;
  /** Contracts, a positive integer. */
  readonly quantity: number;
  readonly type: OrderType;
  /** Limit price, for `limit`. */
  readonly price?: number;
  /** Trigger price, for `stop`. */
  readonly stopPrice?: number;
}

/**
 * A bracket level: an absolute price, or a distance from the entry's fill price in ticks (always
 * positive; the side decides the direction). Both legs of one bracket use the same kind.
 */
export type BracketLevel =
  | { readonly kind: 'price'; readonly price: number }
  | { readonly kind: 'offset'; readonly ticks: number };

export interface BracketRequest extends OrderRequest {
  readonly takeProfit?: BracketLevel;
  readonly stopLoss?: BracketLevel;
}

export interface BrokerOrder {
  readonly orderId: string;
  /** Our client order id when the order was placed by us; null for orders placed elsewhere. */
  readonly clientOrderId: string | null;
  readonly brokerAccountId: string;
  readonly contract: string;
  readonly side: Side;
  readonly type: OrderType;
  readonly quantity: number;
  readonly filledQuantity: number;
  readonly price: number | null;
  readonly stopPrice: number | null;
  readonly status: OrderStatus;
  readonly averageFillPrice: number | null;
  /** For bracket legs: the entry order they belong to. */
  readonly parentOrderId: string | null;
  readonly rejectReason?: string;
}

export interface PlacedBracket {
  readonly entry: BrokerOrder;
  /** Known when the venue creates the legs with the entry (OSO); absent for fill-relative strategies until the fill. */
  readonly takeProfitOrderId?: string;
  readonly stopLossOrderId?: string;
}

export interface BrokerPosition {
  readonly brokerAccountId: string;
  readonly contract: string;
  /** Signed: positive long, negative short. Never zero in a list. */
  readonly netQuantity: number;
  readonly averagePrice: number;
}

export interface ModifyRequest {
  readonly account: AccountRef;
  readonly orderId: string;
  readonly clientOrderId?: string;
  readonly quantity: number;
  readonly price?: number;
  readonly stopPrice?: number;
}

export interface CancelRequest {
  readonly account: AccountRef;
  readonly orderId: string;
}

export interface LiquidateRequest {
  readonly account: AccountRef;
  readonly contract: string;
  readonly clientOrderId: string;
}

export interface Broker {
  readonly name: BrokerName;
  /** The accounts a credential can trade. */
  listAccounts(credentialId: string, options?: CallOptions): Promise<BrokerResult<BrokerAccountInfo[]>>;
  /** `MNQ`, `MNQ1!` → the front month; `MNQZ6` → that contract. Unknown → `rejected` / `InvalidContract`. */
  resolveContract(
    credentialId: string,
    symbol: string,
    options?: CallOptions,
  ): Promise<BrokerResult<ContractInfo>>;
  placeOrder(request: OrderRequest, options?: CallOptions): Promise<BrokerResult<BrokerOrder>>;
  /** Entry with take-profit and stop in one venue call. */
  placeBracket(request: BracketRequest, options?: CallOptions): Promise<BrokerResult<PlacedBracket>>;
  modifyOrder(request: ModifyRequest, options?: CallOptions): Promise<BrokerResult<void>>;
  cancelOrder(request: CancelRequest, options?: CallOptions): Promise<BrokerResult<void>>;
  /** Close the account's position in a contract at market; `null` when it was already flat. */
  liquidatePosition(
    request: LiquidateRequest,
    options?: CallOptions,
  ): Promise<BrokerResult<BrokerOrder | null>>;
  /** The account's working orders (and only that account's). */
  workingOrders(account: AccountRef, options?: CallOptions): Promise<BrokerResult<BrokerOrder[]>>;
  /** The account's open positions (and only that account's). */
  positions(account: AccountRef, options?: CallOptions): Promise<BrokerResult<BrokerPosition[]>>;
  /** Look an order up by our client order id, to settle an unknown outcome; `null` when none exists. */
  findOrder(
    account: AccountRef,
    clientOrderId: string,
    options?: CallOptions,
  ): Promise<BrokerResult<BrokerOrder | null>>;
  /** Release connections. */
  close(): Promise<void>;
}
