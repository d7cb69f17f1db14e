/**
 * The paper broker: the broker port over an in-process {@link PaperExchange}. It behaves like a venue
 * adapter (credential checks, exact contract names, rejections as values) so the engine cannot tell
 * it from a real broker except by the absence of latency and outages.
 */
import { err, ok } from '../../domain/result.js';
import type {
  AccountRef,
  BracketLevel,
  BracketRequest,
  Broker,
  BrokerAccountInfo,
  BrokerOrder,
  BrokerPosition,
  BrokerResult,
  CancelRequest,
  ContractInfo,
  LiquidateRequest,
  ModifyRequest,
  OrderRequest,
  PlacedBracket,
} from '../broker.js';
import { type BrokerError, rejected } from '../errors.js';
import type {
  ExchangeOrder,
  ExchangeRejection,
  OsoLevel,
  PaperExchange,
  PlaceOrderRequest,
} from './exchange.js';

export interface PaperBrokerOptions {
  readonly exchange: PaperExchange;
  /**
   * Credential id → exchange account owner. A credential missing from the map is its own owner, so
   * the common set-up (owners named after credentials) needs no map.
   */
  readonly credentials?: Readonly<Record<string, string>>;
}

const MAX_CLIENT_ORDER_ID = 64;

/** {@link Broker} backed by a {@link PaperExchange}. */
export class PaperBroker implements Broker {
  readonly name = 'paper' as const;
  private readonly exchange: PaperExchange;
  private readonly credentials: Readonly<Record<string, string>>;

  constructor(options: PaperBrokerOptions) {
    this.exchange = options.exchange;
    this.credentials = options.credentials ?? {};
  }

  async listAccounts(credentialId: string): Promise<BrokerResult<BrokerAccountInfo[]>> {
    return ok(
      this.exchange
        .accountsOf(this.ownerOf(credentialId))
        .map((a) => ({ brokerAccountId: a.id, name: a.name, active: a.active })),
    );
  }

  async resolveContract(_credentialId: string, symbol: string): Promise<BrokerResult<ContractInfo>> {
    const contract = this.exchange.resolve(symbol);
    if (!contract) return err(rejected('InvalidContract', `unknown symbol ${symbol}`));
    const { id, name, root, tickSize, pointValue } = contract;
    return ok({ id, name, root, tickSize, pointValue });
  }

  async placeOrder(request: OrderRequest): Promise<BrokerResult<BrokerOrder>> {
    const refused = this.authorize(request.account) ?? checkClientOrderId(request.clientOrderId);
    if (refused) return err(refused);
    const placed = this.exchange.placeOrder(toExchangeRequest(request));
    return placed.ok ? ok(toBrokerOrder(placed.value)) : err(toBrokerError(placed.error));
  }

  async placeBracket(request: BracketRequest): Promise<BrokerResult<PlacedBracket>> {
    const refused = this.authorize(request.account) ?? checkClientOrderId(request.clientOrderId);
    if (refused) return err(refused);
    const placed = this.exchange.placeOso(toExchangeRequest(request), {
      ...(request.takeProfit ? { takeProfit: toOsoLevel(request.takeProfit) } : {}),
      ...(request.stopLoss ? { stopLoss: toOsoLevel(request.stopLoss) } : {}),
    });
    if (!placed.ok) return err(toBrokerError(placed.error));
    const { entry, takeProfit, stopLoss } = placed.value;
    return ok({
      entry: toBrokerOrder(entry),
      ...(takeProfit ? { takeProfitOrderId: takeProfit.id } : {}),
      ...(stopLoss ? { stopLossOrderId: stopLoss.id } : {}),
    });
  }

  async modifyOrder(request: ModifyRequest): Promise<BrokerResult<void>> {
    const refused = this.authorize(request.account);
    if (refused) return err(refused);
    const modified = this.exchange.modifyOrder(request.account.brokerAccountId, request.orderId, {
      quantity: request.quantity,
      ...(request.price !== undefined ? { price: request.price } : {}),
      ...(request.stopPrice !== undefined ? { stopPrice: request.stopPrice } : {}),
    });
    return modified.ok ? ok(undefined) : err(toBrokerError(modified.error));
  }

  async cancelOrder(request: CancelRequest): Promise<BrokerResult<void>> {
    const refused = this.authorize(request.account);
    if (refused) return err(refused);
    const canceled = this.exchange.cancelOrder(request.account.brokerAccountId, request.orderId);
    return canceled.ok ? ok(undefined) : err(toBrokerError(canceled.error));
  }

  async liquidatePosition(request: LiquidateRequest): Promise<BrokerResult<BrokerOrder | null>> {
    const refused = this.authorize(request.account) ?? checkClientOrderId(request.clientOrderId);
    if (refused) return err(refused);
    const closed = this.exchange.liquidate(
      request.account.brokerAccountId,
      request.contract,
      request.clientOrderId,
    );
    if (!closed.ok) return err(toBrokerError(closed.error));
    return ok(closed.value ? toBrokerOrder(closed.value) : null);
  }

  /** Working orders, and bracket legs still pending on their entry: both are live at the venue. */
  async workingOrders(account: AccountRef): Promise<BrokerResult<BrokerOrder[]>> {
    const refused = this.authorize(account);
    if (refused) return err(refused);
    return ok(
      this.exchange
        .orders(account.brokerAccountId)
        .filter((o) => o.status === 'working' || o.status === 'pending')
        .map(toBrokerOrder),
    );
  }

  async positions(account: AccountRef): Promise<BrokerResult<BrokerPosition[]>> {
    const refused = this.authorize(account);
    if (refused) return err(refused);
    const open: BrokerPosition[] = [];
    for (const p of this.exchange.positions(account.brokerAccountId)) {
      if (p.netQuantity === 0 || p.averagePrice === null) continue;
      open.push({
        brokerAccountId: p.accountId,
        contract: p.contract,
        netQuantity: p.netQuantity,
        averagePrice: p.averagePrice,
      });
    }
    return ok(open);
  }

  async findOrder(account: AccountRef, clientOrderId: string): Promise<BrokerResult<BrokerOrder | null>> {
    const refused = this.authorize(account);
    if (refused) return err(refused);
    const order = this.exchange.findByClientOrderId(account.brokerAccountId, clientOrderId);
    return ok(order ? toBrokerOrder(order) : null);
  }

  async close(): Promise<void> {}

  private ownerOf(credentialId: string): string {
    return this.credentials[credentialId] ?? credentialId;
  }

  /** The account must exist and belong to the credential; otherwise nothing about it is revealed. */
  private authorize(account: AccountRef): BrokerError | null {
    const found = this.exchange.account(account.brokerAccountId);
    if (!found || found.owner !== this.ownerOf(account.credentialId)) {
      return rejected(
        'Unauthorized',
        `account ${account.brokerAccountId} is not an account of this credential`,
      );
    }
    return null;
  }
}

function checkClientOrderId(clientOrderId: string): BrokerError | null {
  if (clientOrderId.length === 0 || clientOrderId.length > MAX_CLIENT_ORDER_ID) {
    return rejected('InvalidClientOrderId', `a client order id has 1 to ${MAX_CLIENT_ORDER_ID} characters`);
  }
  return null;
}

function toExchangeRequest(request: OrderRequest): PlaceOrderRequest {
  return {
    accountId: request.account.brokerAccountId,
    clientOrderId: request.clientOrderId,
    contract: request.contract,
    side: request.side,
    quantity: request.quantity,
    type: request.type,
    ...(request.price !== undefined ? { price: request.price } : {}),
    ...(request.stopPrice !== undefined ? { stopPrice: request.stopPrice } : {}),
    // The port requires every order to carry the venue's automated flag.
    automated: true,
  };
}

function toOsoLevel(level: BracketLevel): OsoLevel {
  return level.kind === 'price' ? { price: level.price } : { ticks: level.ticks };
}

function toBrokerError(rejection: ExchangeRejection): BrokerError {
  return rejected(rejection.reason, rejection.text);
}

function toBrokerOrder(order: ExchangeOrder): BrokerOrder {
  return {
    orderId: order.id,
    clientOrderId: order.clientOrderId,
    brokerAccountId: order.accountId,
    contract: order.contract,
    side: order.side,
    type: order.type,
    quantity: order.quantity,
    filledQuantity: order.filledQuantity,
    price: order.price,
    stopPrice: order.stopPrice,
    status: order.status,
    averageFillPrice: order.averageFillPrice,
    parentOrderId: order.parentId,
  };
}
