/** Signals as received (the idempotency record) and the write-ahead order journal. */
import { sql } from 'drizzle-orm';
import { check, index, integer, json, jsonb, pgTable, text, unique } from 'drizzle-orm/pg-core';
import { ORDER_LEGS, ORDER_STATES, type OrderPlan } from '../../domain/orders.js';
import type { Principal, Signal } from '../../domain/types.js';
import { SIGNAL_SOURCES, SIGNAL_STATUSES } from '../repositories/types.js';
import { idColumn, instant, oneOf, refColumn } from './columns.js';

export const signals = pgTable(
  'signals',
  {
    /** Our signal id; part of every client order id derived from it. */
    id: idColumn(),
    /** Idempotency key: Discord interaction id, Telegram chat+message id, alert id or body hash. */
    dedupKey: text('dedup_key').notNull(),
    /** command, channel, alert or webhook. */
    source: text('source', { enum: SIGNAL_SOURCES }).notNull(),
    /** Who sent it (platform, user id, chat id), as received. */
    principal: jsonb('principal').$type<Principal>().notNull(),
    /** The parsed signal. */
    body: jsonb('body').$type<Signal>().notNull(),
    /** received → executing → done | rejected | failed. */
    status: text('status', { enum: SIGNAL_STATUSES }).notNull().default('received'),
    /**
     * Outcome counts and notes once finished; null before. \`json\`, not \`jsonb\`: it is only ever
     * written and read whole, and a 10,000-account summary (1.7 MB) is stored about three times faster as text.
     */
    summary: json('summary').$type<Record<string, unknown>>(),
    /**
     * The summary without its per-account outcomes, written with it: what a list of signals shows,
     * kilobytes where the summary of a 10,000-account fan-out is megabytes.
     */
    totals: json('totals').$type<Record<string, unknown>>(),
    /** When it was received (UTC). */
    createdAt: instant('created_at').notNull().defaultNow(),
    /** When it reached done, rejected or failed (UTC); null before. */
    finishedAt: instant('finished_at'),
  },
  (t) => [
    unique('signals_dedup_key_unique').on(t.dedupKey),
    check('signals_source_check', oneOf(t.source, SIGNAL_SOURCES)),
    check('signals_status_check', oneOf(t.status, SIGNAL_STATUSES)),
  ],
);

export const orderJournal = pgTable(
  'order_journal',
  {
    /** Our journal entry id. */
    id: idColumn(),
    /**
     * The signal this order serves. Not a foreign key: a fan-out journals every account in one insert,
     * and the per-row key checks (a share lock on each referenced row) would double its time. A
     * trigger refuses to delete a signal or an account the journal names (migration 0004).
     */
    signalId: refColumn('signal_id').notNull(),
    /** The account the order is for (see `signalId` on why it is not a foreign key). */
    accountId: refColumn('account_id').notNull(),
    /** Our client order id (at most 64 characters), assigned before sending; the broker-side idempotency key. */
    clientOrderId: text('client_order_id').notNull(),
    /** entry, exit, take_profit, stop_loss, cancel or liquidate. */
    leg: text('leg', { enum: ORDER_LEGS }).notNull(),
    /** Position of this leg in the account's plan, from 0. */
    seq: integer('seq').notNull(),
    /** planned → acked | rejected | unknown → reconciled; or skipped (`sending`: a reconciler repair in flight). */
    state: text('state', { enum: ORDER_STATES }).notNull(),
    /** What we asked the broker to do (contract, side, contracts, prices), so recovery can settle it. */
    plan: jsonb('plan').$type<OrderPlan>().notNull(),
    /** Broker order ids: the order, then its bracket legs. */
    brokerOrderIds: jsonb('broker_order_ids').$type<string[]>().notNull().default([]),
    /** Why it was rejected, skipped or unknown: a stable code, a colon, then text. */
    reason: text('reason'),
    /** When the entry was planned (UTC). */
    createdAt: instant('created_at').notNull().defaultNow(),
    /** When the state last changed (UTC). */
    updatedAt: instant('updated_at').notNull().defaultNow(),
  },
  (t) => [
    unique('order_journal_client_order_id_unique').on(t.clientOrderId),
    index('order_journal_state_idx').on(t.state),
    index('order_journal_signal_id_idx').on(t.signalId),
    index('order_journal_account_id_idx').on(t.accountId),
    check('order_journal_leg_check', oneOf(t.leg, ORDER_LEGS)),
    check('order_journal_state_check', oneOf(t.state, ORDER_STATES)),
    check('order_journal_seq_check', sql`${t.seq} >= 0`),
  ],
);
