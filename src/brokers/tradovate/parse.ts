/**
 * Pure parsing of Tradovate payloads (REST bodies and WebSocket message bodies) into small typed
 * records, and the mapping of those records onto the broker port's vocabulary. No I/O here: every
 * function is tested against recorded fixtures.
 *
 * Schemas tolerate fields they do not name: the venue adds fields over time, and only the fields
 * read here are checked. Records that are mapped field by field (orders, positions, strategies and
 * their kin) drop the rest while parsing; the others keep them.
 */
import { z } from 'zod';
import type { Result } from '../../domain/result.js';
import { err, ok } from '../../domain/result.js';
import type { Side } from '../../domain/types.js';
import type { BrokerOrder, BrokerPosition, OrderStatus, OrderType } from '../broker.js';

/** A payload that did not have the expected shape. */
export interface ParseProblem {
  readonly code: 'unexpected_payload';
  readonly message: string;
}
export type Parsed<T> = Result<T, ParseProblem>;

const problem = (what: string, detail?: string): Parsed<never> =>
  err({ code: 'unexpected_payload', message: detail ? `${what}: ${detail}` : what });

/** Venue ids are int64; JSON carries them as numbers, some clients as digit strings. */
const id = z.union([z.number().int(), z.string().regex(/^\d+$/).transform(Number)]);
const optionalNumber = z.number().nullish();
const optionalString = z.string().nullish();

function parseWith<S extends z.ZodType>(schema: S, body: unknown, what: string): Parsed<z.output<S>> {
  const r = schema.safeParse(body);
  if (r.success) return ok(r.data);
  const first = r.error.issues[0];
  return problem(what, first ? `${first.path.join('.') || '(root)'} ${first.message}` : undefined);
}

/** List schemas, built once per item schema (building a zod schema costs far more than using one). */
const listSchemas = new WeakMap<z.ZodType, z.ZodType>();

function parseList<S extends z.ZodType>(schema: S, body: unknown, what: string): Parsed<z.output<S>[]> {
  if (!Array.isArray(body)) return problem(what, 'expected an array');
  let list = listSchemas.get(schema) as z.ZodArray<S> | undefined;
  if (!list) {
    list = z.array(schema);
    listSchemas.set(schema, list);
  }
  return parseWith(list, body, what);
}

function nonEmpty(s: string | null | undefined): s is string {
  return typeof s === 'string' && s.length > 0;
}

// ---------------------------------------------------------------------------------------------
// Penalties

/** An endpoint-level penalty: the request was not handled; resend it after `waitSeconds` with the ticket. */
export interface Penalty {
  readonly ticket: string;
  readonly waitSeconds: number;
  /** True when only Tradovate's own UI can clear it; a third-party app must stop. */
  readonly captcha: boolean;
  readonly message?: string;
}

const penaltySchema = z.looseObject({
  'p-ticket': z.string().nullish(),
  'p-time': z.number().nullish(),
  'p-captcha': z.boolean().nullish(),
  'p-message': z.string().nullish(),
});

/** The body names a penalty ticket or captcha (a look at its keys; {@link parsePenalty} reads it). */
export function namesPenalty(body: unknown): boolean {
  return (
    typeof body === 'object' &&
    body !== null &&
    !Array.isArray(body) &&
    ('p-ticket' in body || 'p-captcha' in body)
  );
}

/** The penalty carried by a 200 body, or null when the body is an ordinary answer. */
export function parsePenalty(body: unknown): Penalty | null {
  if (!namesPenalty(body)) return null;
  const r = penaltySchema.safeParse(body);
  if (!r.success) return null;
  const d = r.data;
  if (!nonEmpty(d['p-ticket']) && d['p-captcha'] !== true) return null;
  return {
    ticket: d['p-ticket'] ?? '',
    waitSeconds: Math.max(0, d['p-time'] ?? 0),
    captcha: d['p-captcha'] === true,
    ...(nonEmpty(d['p-message']) ? { message: d['p-message'] } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Authentication

export type AccessTokenAnswer =
  | {
      readonly kind: 'token';
      readonly accessToken: string;
      readonly expiresAt: Date;
      readonly userId?: number;
      readonly name?: string;
    }
  | { readonly kind: 'penalty'; readonly penalty: Penalty }
  | { readonly kind: 'error'; readonly text: string };

const accessTokenSchema = z.looseObject({
  errorText: optionalString,
  accessToken: optionalString,
  expirationTime: optionalString,
  userId: id.nullish(),
  name: optionalString,
});

/** `auth/accesstokenrequest` and `auth/renewaccesstoken` answers (both `AccessTokenResponse`). */
export function parseAccessTokenResponse(body: unknown): Parsed<AccessTokenAnswer> {
  const penalty = parsePenalty(body);
  if (penalty) return ok({ kind: 'penalty', penalty });
  const r = parseWith(accessTokenSchema, body, 'access token response');
  if (!r.ok) return r;
  const d = r.value;
  if (nonEmpty(d.errorText)) return ok({ kind: 'error', text: d.errorText });
  if (!nonEmpty(d.accessToken)) return problem('access token response', 'no accessToken');
  if (!nonEmpty(d.expirationTime)) return problem('access token response', 'no expirationTime');
  const expiresAt = new Date(d.expirationTime);
  if (Number.isNaN(expiresAt.getTime())) return problem('access token response', 'bad expirationTime');
  return ok({
    kind: 'token',
    accessToken: d.accessToken,
    expiresAt,
    ...(d.userId != null ? { userId: d.userId } : {}),
    ...(nonEmpty(d.name) ? { name: d.name } : {}),
  });
}

export type OAuthTokenAnswer =
  | {
      readonly kind: 'token';
      readonly accessToken: string;
      readonly expiresAt: Date;
      readonly refreshToken?: string;
      readonly refreshExpiresAt?: Date;
    }
  | { readonly kind: 'error'; readonly error: string; readonly description?: string };

const oauthTokenSchema = z.looseObject({
  access_token: optionalString,
  expires_in: optionalNumber,
  refresh_token: optionalString,
  refresh_token_expires_in: optionalNumber,
  error: optionalString,
  error_description: optionalString,
});

/** `auth/oauthtoken` answers; errors arrive as `{error}` in a 200. `now` anchors `expires_in`. */
export function parseOAuthTokenResponse(body: unknown, now: number): Parsed<OAuthTokenAnswer> {
  const r = parseWith(oauthTokenSchema, body, 'OAuth token response');
  if (!r.ok) return r;
  const d = r.value;
  if (nonEmpty(d.error)) {
    return ok({
      kind: 'error',
      error: d.error,
      ...(nonEmpty(d.error_description) ? { description: d.error_description } : {}),
    });
  }
  if (!nonEmpty(d.access_token)) return problem('OAuth token response', 'no access_token');
  if (d.expires_in == null) return problem('OAuth token response', 'no expires_in');
  return ok({
    kind: 'token',
    accessToken: d.access_token,
    expiresAt: new Date(now + d.expires_in * 1000),
    ...(nonEmpty(d.refresh_token) ? { refreshToken: d.refresh_token } : {}),
    ...(d.refresh_token_expires_in != null
      ? { refreshExpiresAt: new Date(now + d.refresh_token_expires_in * 1000) }
      : {}),
  });
}

// ---------------------------------------------------------------------------------------------
// Entities

export interface VenueAccount {
  readonly id: number;
  readonly name: string;
  readonly active: boolean;
  readonly userId: number | null;
}

const accountSchema = z.looseObject({
  id,
  name: z.string(),
  active: z.boolean().nullish(),
  closed: z.boolean().nullish(),
  userId: id.nullish(),
});

/** `account/list`. An account without `active` counts as active unless marked closed. */
export function parseAccountList(body: unknown): Parsed<VenueAccount[]> {
  const r = parseList(accountSchema, body, 'account list');
  if (!r.ok) return r;
  return ok(
    r.value.map((a) => ({
      id: a.id,
      name: a.name,
      active: (a.active ?? true) && a.closed !== true,
      userId: a.userId ?? null,
    })),
  );
}

export interface VenueContract {
  readonly id: number;
  readonly name: string;
  readonly contractMaturityId: number | null;
}

const contractSchema = z.looseObject({ id, name: z.string(), contractMaturityId: id.nullish() });

function toContract(c: z.output<typeof contractSchema>): VenueContract {
  return { id: c.id, name: c.name, contractMaturityId: c.contractMaturityId ?? null };
}

/** `contract/find` and `contract/item`: null (or an empty object) means no such contract. */
export function parseContract(body: unknown): Parsed<VenueContract | null> {
  if (isEmptyAnswer(body)) return ok(null);
  const r = parseWith(contractSchema, body, 'contract');
  return r.ok ? ok(toContract(r.value)) : r;
}

/** `contract/suggest`, `contract/items`. */
export function parseContractList(body: unknown): Parsed<VenueContract[]> {
  const r = parseList(contractSchema, body, 'contract list');
  return r.ok ? ok(r.value.map(toContract)) : r;
}

export interface VenueProduct {
  readonly id: number;
  readonly name: string;
  readonly tickSize: number;
  readonly valuePerPoint: number;
}

const productSchema = z.looseObject({
  id,
  name: z.string(),
  tickSize: z.number().positive(),
  valuePerPoint: z.number().positive(),
});

/** `product/find`: null when there is no such product. */
export function parseProduct(body: unknown): Parsed<VenueProduct | null> {
  if (isEmptyAnswer(body)) return ok(null);
  const r = parseWith(productSchema, body, 'product');
  return r.ok
    ? ok({
        id: r.value.id,
        name: r.value.name,
        tickSize: r.value.tickSize,
        valuePerPoint: r.value.valuePerPoint,
      })
    : r;
}

const ORD_STATUSES = [
  'Canceled',
  'Completed',
  'Expired',
  'Filled',
  'PendingCancel',
  'PendingNew',
  'PendingReplace',
  'Rejected',
  'Suspended',
  'Unknown',
  'Working',
] as const;
export type VenueOrdStatus = (typeof ORD_STATUSES)[number];

export interface VenueOrder {
  readonly id: number;
  readonly accountId: number;
  readonly contractId: number | null;
  readonly action: 'Buy' | 'Sell';
  readonly ordStatus: VenueOrdStatus;
  readonly parentId: number | null;
  readonly timestamp: string | null;
}

const orderSchema = z.object({
  id,
  accountId: id,
  contractId: id.nullish(),
  action: z.enum(['Buy', 'Sell']),
  // An unknown status must not make a whole account's order list unreadable.
  ordStatus: z
    .string()
    .transform(
      (s): VenueOrdStatus =>
        (ORD_STATUSES as readonly string[]).includes(s) ? (s as VenueOrdStatus) : 'Unknown',
    ),
  parentId: id.nullish(),
  timestamp: optionalString,
});

function toOrder(o: z.output<typeof orderSchema>): VenueOrder {
  return {
    id: o.id,
    accountId: o.accountId,
    contractId: o.contractId ?? null,
    action: o.action,
    ordStatus: o.ordStatus,
    parentId: o.parentId ?? null,
    timestamp: o.timestamp ?? null,
  };
}

/** `order/list`, `order/deps`, `order/items`. */
export function parseOrderList(body: unknown): Parsed<VenueOrder[]> {
  const r = parseList(orderSchema, body, 'order list');
  return r.ok ? ok(r.value.map(toOrder)) : r;
}

/** `order/item`: null when absent. */
export function parseOrder(body: unknown): Parsed<VenueOrder | null> {
  if (isEmptyAnswer(body)) return ok(null);
  const r = parseWith(orderSchema, body, 'order');
  return r.ok ? ok(toOrder(r.value)) : r;
}

export interface VenueOrderVersion {
  readonly id: number;
  readonly orderId: number;
  readonly orderQty: number;
  readonly orderType: string;
  readonly price: number | null;
  readonly stopPrice: number | null;
  readonly text: string | null;
}

const orderVersionSchema = z.object({
  id,
  orderId: id,
  orderQty: z.number().int(),
  orderType: z.string(),
  price: optionalNumber,
  stopPrice: optionalNumber,
  text: optionalString,
});

/** `orderVersion/deps`, `orderVersion/ldeps`. */
export function parseOrderVersionList(body: unknown): Parsed<VenueOrderVersion[]> {
  const r = parseList(orderVersionSchema, body, 'order version list');
  if (!r.ok) return r;
  return ok(
    r.value.map((v) => ({
      id: v.id,
      orderId: v.orderId,
      orderQty: v.orderQty,
      orderType: v.orderType,
      price: v.price ?? null,
      stopPrice: v.stopPrice ?? null,
      text: v.text ?? null,
    })),
  );
}

/** The current version of each order: the highest version id wins (one version per New/Modify). */
export function latestVersions(versions: readonly VenueOrderVersion[]): Map<number, VenueOrderVersion> {
  const latest = new Map<number, VenueOrderVersion>();
  for (const v of versions) {
    const seen = latest.get(v.orderId);
    if (!seen || v.id > seen.id) latest.set(v.orderId, v);
  }
  return latest;
}

export interface VenueCommand {
  readonly id: number;
  readonly orderId: number;
  readonly clOrdId: string | null;
  readonly commandType: string;
}

const commandSchema = z.object({ id, orderId: id, clOrdId: optionalString, commandType: z.string() });

/** `command/deps`, `command/ldeps`. */
export function parseCommandList(body: unknown): Parsed<VenueCommand[]> {
  const r = parseList(commandSchema, body, 'command list');
  if (!r.ok) return r;
  return ok(
    r.value.map((c) => ({
      id: c.id,
      orderId: c.orderId,
      clOrdId: c.clOrdId ?? null,
      commandType: c.commandType,
    })),
  );
}

/** The client order id an order was placed with: its `New` command's `clOrdId`. */
export function clientOrderIds(commands: readonly VenueCommand[]): Map<number, string> {
  const ids = new Map<number, string>();
  for (const c of commands) {
    if (c.clOrdId && (c.commandType === 'New' || !ids.has(c.orderId))) ids.set(c.orderId, c.clOrdId);
  }
  return ids;
}

export interface VenuePosition {
  readonly id: number;
  readonly accountId: number;
  readonly contractId: number;
  readonly netPos: number;
  readonly netPrice: number | null;
}

const positionSchema = z.object({
  id,
  accountId: id,
  contractId: id,
  netPos: z.number().int(),
  netPrice: optionalNumber,
});

/** `position/deps`, `position/list`. */
export function parsePositionList(body: unknown): Parsed<VenuePosition[]> {
  const r = parseList(positionSchema, body, 'position list');
  if (!r.ok) return r;
  return ok(
    r.value.map((p) => ({
      id: p.id,
      accountId: p.accountId,
      contractId: p.contractId,
      netPos: p.netPos,
      netPrice: p.netPrice ?? null,
    })),
  );
}

export interface VenueFill {
  readonly id: number;
  readonly orderId: number;
  readonly qty: number;
  readonly price: number;
  readonly active: boolean;
}

const fillSchema = z.object({
  id,
  orderId: id,
  qty: z.number().int(),
  price: z.number(),
  active: z.boolean().nullish(),
});

/** `fill/deps`. */
export function parseFillList(body: unknown): Parsed<VenueFill[]> {
  const r = parseList(fillSchema, body, 'fill list');
  if (!r.ok) return r;
  return ok(
    r.value.map((f) => ({
      id: f.id,
      orderId: f.orderId,
      qty: f.qty,
      price: f.price,
      active: f.active ?? true,
    })),
  );
}

/** Filled quantity and volume-weighted price of an order's active fills. */
export function summarizeFills(fills: readonly VenueFill[]): {
  quantity: number;
  averagePrice: number | null;
} {
  let quantity = 0;
  let value = 0;
  for (const f of fills) {
    if (!f.active) continue;
    quantity += f.qty;
    value += f.qty * f.price;
  }
  return { quantity, averagePrice: quantity > 0 ? value / quantity : null };
}

export interface VenueOrderStrategy {
  readonly id: number;
  readonly accountId: number | null;
  readonly uuid: string | null;
  readonly status: string | null;
  readonly failureMessage: string | null;
}

const orderStrategySchema = z.object({
  id,
  accountId: id.nullish(),
  uuid: optionalString,
  status: optionalString,
  failureMessage: optionalString,
});

function toStrategy(s: z.output<typeof orderStrategySchema>): VenueOrderStrategy {
  return {
    id: s.id,
    accountId: s.accountId ?? null,
    uuid: s.uuid ?? null,
    status: s.status ?? null,
    failureMessage: s.failureMessage ?? null,
  };
}

/** `orderStrategy/deps`. */
export function parseOrderStrategyList(body: unknown): Parsed<VenueOrderStrategy[]> {
  const r = parseList(orderStrategySchema, body, 'order strategy list');
  return r.ok ? ok(r.value.map(toStrategy)) : r;
}

export interface VenueOrderStrategyLink {
  readonly id: number;
  readonly orderStrategyId: number;
  readonly orderId: number;
  readonly label: string;
}

const orderStrategyLinkSchema = z.object({
  id,
  orderStrategyId: id,
  orderId: id,
  label: z.string().nullish(),
});

/** `orderStrategyLink/deps`. */
export function parseOrderStrategyLinkList(body: unknown): Parsed<VenueOrderStrategyLink[]> {
  const r = parseList(orderStrategyLinkSchema, body, 'order strategy link list');
  if (!r.ok) return r;
  return ok(
    r.value.map((l) => ({
      id: l.id,
      orderStrategyId: l.orderStrategyId,
      orderId: l.orderId,
      label: l.label ?? '',
    })),
  );
}

/**
 * The entry order among a bracket strategy's links: the link labelled as the entry, else the
 * oldest link (the entry is created first).
 */
export function strategyEntryOrderId(links: readonly VenueOrderStrategyLink[]): number | null {
  const labelled = links.find((l) => /entry|^main$/i.test(l.label));
  if (labelled) return labelled.orderId;
  const sorted = [...links].sort((a, b) => a.id - b.id);
  return sorted[0]?.orderId ?? null;
}

// ---------------------------------------------------------------------------------------------
// Mutation results

export type PlaceAnswer =
  | {
      readonly kind: 'placed';
      readonly orderId: number;
      readonly oso1Id: number | null;
      readonly oso2Id: number | null;
    }
  | { readonly kind: 'failed'; readonly reason: string; readonly text: string };

const placeResultSchema = z.object({
  orderId: id.nullish(),
  oso1Id: id.nullish(),
  oso2Id: id.nullish(),
  failureReason: optionalString,
  failureText: optionalString,
  errorText: optionalString,
});

function failureOf(d: {
  failureReason?: string | null;
  failureText?: string | null;
  errorText?: string | null;
}) {
  const reason = nonEmpty(d.failureReason) && d.failureReason !== 'Success' ? d.failureReason : null;
  const text = nonEmpty(d.failureText) ? d.failureText : nonEmpty(d.errorText) ? d.errorText : null;
  return { reason, text };
}

/** `order/placeorder`, `order/placeoso`, `order/liquidateposition` (`PlaceOrderResult`, `PlaceOsoResult`). */
export function parsePlaceResult(body: unknown): Parsed<PlaceAnswer> {
  const r = parseWith(placeResultSchema, body, 'place result');
  if (!r.ok) return r;
  const d = r.value;
  const f = failureOf(d);
  if (f.reason || (f.text && d.orderId == null)) {
    return ok({
      kind: 'failed',
      reason: f.reason ?? 'UnknownReason',
      text: f.text ?? f.reason ?? 'UnknownReason',
    });
  }
  if (d.orderId == null) return problem('place result', 'no orderId');
  return ok({ kind: 'placed', orderId: d.orderId, oso1Id: d.oso1Id ?? null, oso2Id: d.oso2Id ?? null });
}

export type CommandAnswer =
  | { readonly kind: 'accepted'; readonly commandId: number | null }
  | { readonly kind: 'failed'; readonly reason: string; readonly text: string };

const commandResultSchema = z.object({
  commandId: id.nullish(),
  failureReason: optionalString,
  failureText: optionalString,
  errorText: optionalString,
});

/** `order/modifyorder`, `order/cancelorder` (`CommandResult`). */
export function parseCommandResult(body: unknown): Parsed<CommandAnswer> {
  const r = parseWith(commandResultSchema, body, 'command result');
  if (!r.ok) return r;
  const d = r.value;
  const f = failureOf(d);
  if (f.reason || (f.text && d.commandId == null)) {
    return ok({
      kind: 'failed',
      reason: f.reason ?? 'UnknownReason',
      text: f.text ?? f.reason ?? 'UnknownReason',
    });
  }
  return ok({ kind: 'accepted', commandId: d.commandId ?? null });
}

export type StrategyAnswer =
  | { readonly kind: 'started'; readonly strategy: VenueOrderStrategy }
  | { readonly kind: 'failed'; readonly text: string };

const strategyResponseSchema = z.object({
  errorText: optionalString,
  orderStrategy: orderStrategySchema.nullish(),
});

const FAILED_STRATEGY = new Set(['ExecutionFailed', 'NotEnoughLiquidity', 'ExecutionInterrupted']);

/** `orderStrategy/startorderstrategy` (`OrderStrategyStatusResponse`). */
export function parseStrategyResponse(body: unknown): Parsed<StrategyAnswer> {
  const r = parseWith(strategyResponseSchema, body, 'order strategy response');
  if (!r.ok) return r;
  const d = r.value;
  if (nonEmpty(d.errorText)) return ok({ kind: 'failed', text: d.errorText });
  if (!d.orderStrategy) return problem('order strategy response', 'no orderStrategy');
  const s = toStrategy(d.orderStrategy);
  if (s.status && FAILED_STRATEGY.has(s.status)) {
    return ok({ kind: 'failed', text: s.failureMessage ?? s.status });
  }
  return ok({ kind: 'started', strategy: s });
}

// ---------------------------------------------------------------------------------------------
// WebSocket messages and events

export type WsMessage =
  | { readonly type: 'response'; readonly id: number; readonly status: number; readonly body: unknown }
  | { readonly type: 'event'; readonly event: string; readonly data: unknown };

/** The messages of an `a[...]` frame; unrecognisable items are dropped. */
export function parseWsMessages(items: readonly unknown[]): WsMessage[] {
  const out: WsMessage[] = [];
  for (const item of items) {
    if (typeof item !== 'object' || item === null) continue;
    const m = item as Record<string, unknown>;
    if (typeof m.e === 'string') {
      out.push({ type: 'event', event: m.e, data: m.d });
    } else if (typeof m.i === 'number' && typeof m.s === 'number') {
      out.push({ type: 'response', id: m.i, status: m.s, body: m.d });
    }
  }
  return out;
}

export interface PropsEvent {
  readonly entityType: string;
  readonly eventType: 'Created' | 'Updated' | 'Deleted';
  /** `entity` may be one object or an array; always a list here. */
  readonly entities: readonly Record<string, unknown>[];
}

const propsSchema = z.looseObject({
  entityType: z.string(),
  eventType: z.enum(['Created', 'Updated', 'Deleted']),
  entity: z.union([z.record(z.string(), z.unknown()), z.array(z.record(z.string(), z.unknown()))]),
});

/** The `d` of a `props` event. */
export function parsePropsEvent(data: unknown): Parsed<PropsEvent> {
  const r = parseWith(propsSchema, data, 'props event');
  if (!r.ok) return r;
  const entity = r.value.entity;
  return ok({
    entityType: r.value.entityType,
    eventType: r.value.eventType,
    entities: Array.isArray(entity) ? entity : [entity],
  });
}

export interface ShutdownEvent {
  readonly reasonCode: string;
  readonly reason: string | null;
}

/** The `d` of a `shutdown` event. */
export function parseShutdownEvent(data: unknown): ShutdownEvent {
  const d = (typeof data === 'object' && data !== null ? data : {}) as Record<string, unknown>;
  return {
    reasonCode: typeof d.reasonCode === 'string' ? d.reasonCode : 'Unknown',
    reason: typeof d.reason === 'string' ? d.reason : null,
  };
}

// ---------------------------------------------------------------------------------------------
// Mapping onto the port

export function toSide(action: 'Buy' | 'Sell'): Side {
  return action === 'Buy' ? 'buy' : 'sell';
}

export function toAction(side: Side): 'Buy' | 'Sell' {
  return side === 'buy' ? 'Buy' : 'Sell';
}

export function oppositeAction(side: Side): 'Buy' | 'Sell' {
  return side === 'buy' ? 'Sell' : 'Buy';
}

export function toVenueOrderType(type: OrderType): 'Market' | 'Limit' | 'Stop' {
  return type === 'market' ? 'Market' : type === 'limit' ? 'Limit' : 'Stop';
}

/** The port knows three order types; the venue's stop family maps to `stop`, market-if-touched to `limit`. */
export function toOrderType(venueType: string): OrderType {
  switch (venueType) {
    case 'Limit':
    case 'MIT':
      return 'limit';
    case 'Stop':
    case 'StopLimit':
    case 'TrailingStop':
    case 'TrailingStopLimit':
      return 'stop';
    default:
      return 'market';
  }
}

export function toOrderStatus(status: VenueOrdStatus): OrderStatus {
  switch (status) {
    case 'Working':
    case 'PendingReplace':
    case 'PendingCancel':
      return 'working';
    case 'Filled':
    case 'Completed':
      return 'filled';
    case 'Canceled':
    case 'Expired':
      return 'canceled';
    case 'Rejected':
      return 'rejected';
    // PendingNew, Unknown, and Suspended: a bracket leg waiting for its entry.
    default:
      return 'pending';
  }
}

/** Orders that still rest at the venue, or are about to (bracket legs waiting for their entry). */
export function isWorking(status: VenueOrdStatus): boolean {
  return (
    status === 'Working' ||
    status === 'PendingNew' ||
    status === 'PendingReplace' ||
    status === 'PendingCancel' ||
    status === 'Suspended'
  );
}

export interface OrderDetails {
  readonly version: VenueOrderVersion | null;
  readonly contractName: string;
  readonly clientOrderId: string | null;
  readonly fills?: readonly VenueFill[];
}

/** A venue order (plus its current version, contract name, client id and fills) as the port's order. */
export function toBrokerOrder(order: VenueOrder, details: OrderDetails): BrokerOrder {
  const v = details.version;
  const status = toOrderStatus(order.ordStatus);
  const quantity = v?.orderQty ?? 0;
  const filled = details.fills ? summarizeFills(details.fills) : null;
  const filledQuantity = filled ? filled.quantity : status === 'filled' ? quantity : 0;
  return {
    orderId: String(order.id),
    clientOrderId: details.clientOrderId,
    brokerAccountId: String(order.accountId),
    contract: details.contractName,
    side: toSide(order.action),
    type: v ? toOrderType(v.orderType) : 'market',
    quantity,
    filledQuantity,
    price: v?.price ?? null,
    stopPrice: v?.stopPrice ?? null,
    status,
    averageFillPrice: filled?.averagePrice ?? null,
    parentOrderId: order.parentId != null ? String(order.parentId) : null,
  };
}

/** A venue position as the port's position; null for a flat one. */
export function toBrokerPosition(position: VenuePosition, contractName: string): BrokerPosition | null {
  if (position.netPos === 0) return null;
  return {
    brokerAccountId: String(position.accountId),
    contract: contractName,
    netQuantity: position.netPos,
    averagePrice: position.netPrice ?? 0,
  };
}

/** Keep only the records of one account: the venue's fallbacks (`order/list`) return every account's. */
export function ofAccount<T extends { readonly accountId: number | null }>(
  records: readonly T[],
  accountId: number,
): T[] {
  return records.filter((r) => r.accountId === accountId);
}

function isEmptyAnswer(body: unknown): boolean {
  return (
    body === null ||
    body === undefined ||
    body === '' ||
    (typeof body === 'object' && !Array.isArray(body) && Object.keys(body).length === 0)
  );
}
