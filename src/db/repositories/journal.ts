import { asc, count, eq, inArray, type SQL, sql } from 'drizzle-orm';
import { type JournalEntry, ORDER_STATES, type OrderState, TERMINAL_STATES } from '../../domain/orders.js';
import type { Db } from '../client.js';
import { orderJournal } from '../schema/index.js';
import { idString, parseId, requireId } from './ids.js';
import type { JournalUpdate, NewJournalEntry } from './types.js';

type JournalRow = typeof orderJournal.$inferSelect;

const toEntry = (row: JournalRow): JournalEntry => ({
  ...row,
  id: idString(row.id),
  signalId: idString(row.signalId),
  accountId: idString(row.accountId),
});

const NON_TERMINAL_STATES: readonly OrderState[] = ORDER_STATES.filter((s) => !TERMINAL_STATES.has(s));

/**
 * The write-ahead order journal: one entry per account order, written before anything is sent, and
 * updated in batches as outcomes arrive.
 */
export class JournalRepository {
  readonly #db: Db;

  constructor({ db }: { db: Db }) {
    this.#db = db;
  }

  /**
   * Writes entries with one INSERT … SELECT over a single JSON parameter: one statement however many
   * rows (no bind-parameter limit, no statement text growing with the rows), so a fan-out is
   * journaled completely or not at all. Returns the entries in input order.
   *
   * @throws on a duplicate client order id (nothing is written then).
   */
  async insertMany(entries: readonly NewJournalEntry[]): Promise<JournalEntry[]> {
    if (entries.length === 0) return [];
    const rows = entries.map((e) => ({
      signal_id: requireId(e.signalId, 'signal').toString(),
      account_id: requireId(e.accountId, 'account').toString(),
      client_order_id: e.clientOrderId,
      leg: e.leg,
      seq: e.seq,
      state: e.state,
      plan: e.plan,
      broker_order_ids: e.brokerOrderIds ?? [],
      reason: e.reason ?? null,
    }));
    // Raw, because drizzle's INSERT … SELECT would name the identity column too.
    const result = await this.#db.execute(
      sql`insert into ${orderJournal} (signal_id, account_id, client_order_id, leg, seq, state, plan,
          broker_order_ids, reason)
        select x.signal_id, x.account_id, x.client_order_id, x.leg, x.seq, x.state, x.plan,
          x.broker_order_ids, x.reason
        from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as x(signal_id bigint, account_id bigint,
          client_order_id text, leg text, seq integer, state text, plan jsonb, broker_order_ids jsonb,
          reason text)
        returning id::text as id, client_order_id, (extract(epoch from created_at) * 1000)::float8 as at`,
    );
    const written = resultRows<{ id: string; client_order_id: string; at: number }>(result).map((r) => ({
      id: r.id,
      clientOrderId: r.client_order_id,
      createdAt: new Date(Number(r.at)),
    }));
    // RETURNING order is not promised by SQL, so match rows back by client order id.
    const byClientOrderId = new Map(written.map((r) => [r.clientOrderId, r]));
    return entries.map((e) => {
      const row = byClientOrderId.get(e.clientOrderId)!;
      return {
        id: row.id,
        signalId: e.signalId,
        accountId: e.accountId,
        clientOrderId: e.clientOrderId,
        leg: e.leg,
        seq: e.seq,
        state: e.state,
        plan: e.plan,
        brokerOrderIds: [...(e.brokerOrderIds ?? [])],
        reason: e.reason ?? null,
        createdAt: row.createdAt,
        updatedAt: row.createdAt,
      };
    });
  }

  /**
   * Applies state changes with one UPDATE … FROM over a single JSON parameter (one atomic statement).
   * Omitted `brokerOrderIds` and `reason` keep their stored values. Transitions are not checked here:
   * the engine owns the state machine. Returns how many entries were updated.
   */
  async updateMany(updates: readonly JournalUpdate[]): Promise<number> {
    if (updates.length === 0) return 0;
    const rows = updates.map((u) => ({
      id: requireId(u.id, 'journal entry').toString(),
      state: u.state,
      broker_order_ids: u.brokerOrderIds ?? null,
      keep_reason: u.reason === undefined,
      reason: u.reason ?? null,
    }));
    const result = await this.#db
      .update(orderJournal)
      .set({
        state: sql`v.state`,
        brokerOrderIds: sql`coalesce(v.broker_order_ids, ${orderJournal.brokerOrderIds})`,
        reason: sql`case when v.keep_reason then ${orderJournal.reason} else v.reason end`,
        updatedAt: sql`now()`,
      })
      .from(
        sql`jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as v(id bigint, state text,
          broker_order_ids jsonb, keep_reason boolean, reason text)`,
      )
      .where(sql`${orderJournal.id} = v.id`)
      .returning({ id: orderJournal.id });
    return result.length;
  }

  /** A signal's entries, by account then leg order. */
  async listBySignal(signalId: string): Promise<JournalEntry[]> {
    const key = parseId(signalId);
    if (key === null) return [];
    return this.#list(eq(orderJournal.signalId, key));
  }

  /** Entries still planned, sending or unknown: what crash recovery must settle, oldest first. */
  async listNonTerminal(): Promise<JournalEntry[]> {
    return this.#list(inArray(orderJournal.state, [...NON_TERMINAL_STATES]), 'id');
  }

  /** The entry with this client order id; null when there is none. */
  async findByClientOrderId(clientOrderId: string): Promise<JournalEntry | null> {
    const [row] = await this.#db
      .select()
      .from(orderJournal)
      .where(eq(orderJournal.clientOrderId, clientOrderId));
    return row ? toEntry(row) : null;
  }

  /** How many entries are in each state, for one signal or overall. Every state is present. */
  async countsByState(signalId?: string): Promise<Record<OrderState, number>> {
    const counts = Object.fromEntries(ORDER_STATES.map((s) => [s, 0])) as Record<OrderState, number>;
    const key = signalId === undefined ? undefined : parseId(signalId);
    if (key === null) return counts;
    const rows = await this.#db
      .select({ state: orderJournal.state, n: count() })
      .from(orderJournal)
      .where(key === undefined ? undefined : eq(orderJournal.signalId, key))
      .groupBy(orderJournal.state);
    for (const row of rows) counts[row.state] = row.n;
    return counts;
  }

  async #list(where: SQL, order: 'account' | 'id' = 'account'): Promise<JournalEntry[]> {
    const rows = await this.#db
      .select()
      .from(orderJournal)
      .where(where)
      .orderBy(
        ...(order === 'account'
          ? [asc(orderJournal.accountId), asc(orderJournal.seq), asc(orderJournal.id)]
          : [asc(orderJournal.id)]),
      );
    return rows.map(toEntry);
  }
}

/** The rows of a raw statement: postgres.js answers with an array of rows, PGlite with `{ rows }`. */
function resultRows<T>(result: unknown): T[] {
  if (Array.isArray(result)) return result as T[];
  return ((result as { rows?: T[] }).rows ?? []) as T[];
}
