import { asc, count, eq, inArray, type SQL, sql } from 'drizzle-orm';
import { type JournalEntry, ORDER_STATES, type OrderState, TERMINAL_STATES } from '../../domain/orders.js';
import type { Db } from '../client.js';
import { orderJournal } from '../schema/index.js';
import { chunks, idString, parseId, requireId } from './ids.js';
import type { JournalUpdate, NewJournalEntry } from './types.js';

type JournalRow = typeof orderJournal.$inferSelect;

const toEntry = (row: JournalRow): JournalEntry => ({
  ...row,
  id: idString(row.id),
  signalId: idString(row.signalId),
  accountId: idString(row.accountId),
});

/** Rows per statement: 1,000 rows × 9 columns stays far below PostgreSQL's 65,535 bind parameters. */
const CHUNK_ROWS = 1000;

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
   * Writes entries with one multi-row INSERT per 1,000 rows, all in one transaction: a fan-out is
   * journaled completely or not at all. Returns the entries in input order.
   *
   * @throws on a duplicate client order id (nothing is written then).
   */
  async insertMany(entries: readonly NewJournalEntry[]): Promise<JournalEntry[]> {
    if (entries.length === 0) return [];
    const values = entries.map((e) => ({
      signalId: requireId(e.signalId, 'signal'),
      accountId: requireId(e.accountId, 'account'),
      clientOrderId: e.clientOrderId,
      leg: e.leg,
      seq: e.seq,
      state: e.state,
      plan: e.plan,
      brokerOrderIds: [...(e.brokerOrderIds ?? [])],
      reason: e.reason ?? null,
    }));
    const rows = await this.#db.transaction(async (tx) => {
      const out: JournalRow[] = [];
      for (const chunk of chunks(values, CHUNK_ROWS)) {
        out.push(...(await tx.insert(orderJournal).values(chunk).returning()));
      }
      return out;
    });
    // RETURNING order is not promised by SQL, so match rows back by client order id.
    const byClientOrderId = new Map(rows.map((r) => [r.clientOrderId, r]));
    return entries.map((e) => toEntry(byClientOrderId.get(e.clientOrderId)!));
  }

  /**
   * Applies state changes with one UPDATE … FROM (VALUES …) per 1,000 entries, in one transaction.
   * Omitted `brokerOrderIds` and `reason` keep their stored values. Transitions are not checked here:
   * the engine owns the state machine. Returns how many entries were updated.
   */
  async updateMany(updates: readonly JournalUpdate[]): Promise<number> {
    if (updates.length === 0) return 0;
    return this.#db.transaction(async (tx) => {
      let updated = 0;
      for (const chunk of chunks(updates, CHUNK_ROWS)) {
        // Every value carries a cast so the VALUES list has types even for a column of nulls.
        const rows = chunk.map(
          (u) =>
            sql`(${requireId(u.id, 'journal entry').toString()}::bigint, ${u.state}::text, ${
              u.brokerOrderIds === undefined ? null : JSON.stringify(u.brokerOrderIds)
            }::jsonb, ${u.reason === undefined}::boolean, ${u.reason ?? null}::text)`,
        );
        const result = await tx
          .update(orderJournal)
          .set({
            state: sql`v.state`,
            brokerOrderIds: sql`coalesce(v.broker_order_ids, ${orderJournal.brokerOrderIds})`,
            reason: sql`case when v.keep_reason then ${orderJournal.reason} else v.reason end`,
            updatedAt: sql`now()`,
          })
          .from(
            sql`(values ${sql.join(rows, sql`, `)}) as v(id, state, broker_order_ids, keep_reason, reason)`,
          )
          .where(sql`${orderJournal.id} = v.id`)
          .returning({ id: orderJournal.id });
        updated += result.length;
      }
      return updated;
    });
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
