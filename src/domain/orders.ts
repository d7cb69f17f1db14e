/** The order journal's vocabulary: one entry per account order, written before anything is sent. */
import type { Side } from './types.js';

/**
 * planned → acked | rejected | unknown; unknown → acked | rejected | reconciled (settled by looking
 * the client order id up); planned → skipped (a gate or sizing refused it). A row is not written
 * again between its journaling and its send, so a planned row left by a stopped process may have
 * reached the broker: recovery looks it up first. `sending` marks the reconciler's own repairs
 * while they are in flight. Terminal: acked, rejected, reconciled, skipped.
 */
export const ORDER_STATES = [
  'planned',
  'sending',
  'acked',
  'rejected',
  'unknown',
  'reconciled',
  'skipped',
] as const;
export type OrderState = (typeof ORDER_STATES)[number];
export const TERMINAL_STATES: ReadonlySet<OrderState> = new Set([
  'acked',
  'rejected',
  'reconciled',
  'skipped',
]);

const NEXT: Readonly<Record<OrderState, readonly OrderState[]>> = {
  planned: ['acked', 'rejected', 'unknown', 'skipped', 'sending'],
  sending: ['acked', 'rejected', 'unknown'],
  unknown: ['acked', 'rejected', 'reconciled', 'unknown'],
  acked: ['reconciled'],
  rejected: [],
  reconciled: [],
  skipped: [],
};

export function canTransition(from: OrderState, to: OrderState): boolean {
  return NEXT[from].includes(to);
}

/**
 * What an account order does: `entry` (with its brackets), `exit` (closing an opposite position
 * before a reverse), `take_profit` / `stop_loss` (placing or resizing a protective order),
 * `cancel` (a working order), `liquidate` (flatten a contract). `flatten` is not an order: it is the
 * row a flatten or close journals up front for each target account, open until the account's
 * program has been through it, whose cancels and liquidations have rows of their own.
 */
export const ORDER_LEGS = [
  'entry',
  'exit',
  'take_profit',
  'stop_loss',
  'cancel',
  'liquidate',
  'flatten',
] as const;
export type OrderLeg = (typeof ORDER_LEGS)[number];

/** What we asked the broker to do, kept in the journal so recovery can settle it. */
export interface OrderPlan {
  readonly contract: string;
  readonly side: Side | null;
  readonly quantity: number;
  readonly orderType?: 'market' | 'limit' | 'stop';
  readonly price?: number;
  readonly stopPrice?: number;
  readonly takeProfit?:
    | { readonly kind: 'price'; readonly price: number }
    | { readonly kind: 'offset'; readonly ticks: number };
  readonly stopLoss?:
    | { readonly kind: 'price'; readonly price: number }
    | { readonly kind: 'offset'; readonly ticks: number };
  /** For modify and cancel: the broker order acted on. */
  readonly targetOrderId?: string;
}

export interface JournalEntry {
  readonly id: string;
  readonly signalId: string;
  readonly accountId: string;
  readonly clientOrderId: string;
  readonly leg: OrderLeg;
  /** Order of the legs within one account's plan, from 0. */
  readonly seq: number;
  readonly state: OrderState;
  readonly plan: OrderPlan;
  /** Broker order ids: the order and, for brackets, its take-profit and stop legs. */
  readonly brokerOrderIds: readonly string[];
  /** Why it was rejected, skipped or unknown; a stable code then a colon then text. */
  readonly reason: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/**
 * Our client order id: deterministic from the signal, the account and the leg, so a crashed
 * process can find what it sent. At most 64 characters (Tradovate's limit on `clOrdId`).
 */
export function clientOrderId(signalId: string, accountId: string, leg: OrderLeg, seq: number): string {
  const legCode: Record<OrderLeg, string> = {
    entry: 'e',
    exit: 'x',
    take_profit: 't',
    stop_loss: 's',
    cancel: 'c',
    liquidate: 'l',
    flatten: 'f',
  };
  return `tc.${signalId}.${accountId}.${legCode[leg]}${seq}`.slice(0, 64);
}

/** Legs that place an order under their client order id (and can be looked up by it). */
export function placesOrder(leg: OrderLeg): boolean {
  return (
    leg === 'entry' || leg === 'exit' || leg === 'liquidate' || leg === 'take_profit' || leg === 'stop_loss'
  );
}
