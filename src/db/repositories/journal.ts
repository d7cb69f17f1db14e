import { asc, count, desc, eq, inArray, type SQL, sql } from 'drizzle-orm';
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
   * Writes entries with one INSERT … SELECT over column arrays: one statement however many rows (no
   * bind-parameter limit, no statement text growing with the rows), so a fan-out is journaled
   * completely or not at all. Plans and broker order id lists repeat across a fan-out, so each
   * distinct one is sent and parsed once. Returns the entries in input order.
   *
   * @throws on a duplicate client order id (nothing is written then).
   */
  async insertMany(entries: readonly NewJournalEntry[]): Promise<JournalEntry[]> {
    if (entries.length === 0) return [];
    const plans = new Distinct();
    const brokerIds = new Distinct();
    const planOf: number[] = [];
    const idsOf: number[] = [];
    for (const e of entries) {
      planOf.push(plans.index(e.plan));
      idsOf.push(brokerIds.index(e.brokerOrderIds ?? []));
    }
    const column = <T>(pick: (e: NewJournalEntry) => T) => sql.param(entries.map(pick));
    // Raw, because drizzle's INSERT … SELECT would name the identity column too.
    const result = await this.#db.execute(
      sql`with p as (select o::int as i, v::jsonb as plan from unnest(${sql.param(plans.values)}::text[])
            with ordinality as t(v, o)),
          b as (select o::int as i, v::jsonb as ids from unnest(${sql.param(brokerIds.values)}::text[])
            with ordinality as t(v, o))
        insert into ${orderJournal} (signal_id, account_id, client_order_id, leg, seq, state, plan,
          broker_order_ids, reason)
        select x.signal_id, x.account_id, x.client_order_id, x.leg, x.seq, x.state, p.plan, b.ids, x.reason
        from unnest(
          ${column((e) => requireId(e.signalId, 'signal').toString())}::bigint[],
          ${column((e) => requireId(e.accountId, 'account').toString())}::bigint[],
          ${column((e) => e.clientOrderId)}::text[],
          ${column((e) => e.leg)}::text[],
          ${column((e) => e.seq)}::integer[],
          ${column((e) => e.state)}::text[],
          ${sql.param(planOf)}::integer[],
          ${sql.param(idsOf)}::integer[],
          ${column((e) => e.reason ?? null)}::text[]
        ) as x(signal_id, account_id, client_order_id, leg, seq, state, pi, bi, reason)
        join p on p.i = x.pi
        join b on b.i = x.bi
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
   * Applies state changes with one UPDATE … FROM over column arrays (one atomic statement).
   * Omitted `brokerOrderIds` and `reason` keep their stored values. Transitions are not checked here:
   * the engine owns the state machine. Returns how many entries were updated.
   */
  async updateMany(updates: readonly JournalUpdate[]): Promise<number> {
    if (updates.length === 0) return 0;
    const column = <T>(pick: (u: JournalUpdate) => T) => sql.param(updates.map(pick));
    // `keep_reason` travels as 0/1: postgres.js sends an array of JS booleans as a single boolean.
    const result = await this.#db
      .update(orderJournal)
      .set({
        state: sql`v.state`,
        brokerOrderIds: sql`coalesce(v.broker_order_ids::jsonb, ${orderJournal.brokerOrderIds})`,
        reason: sql`case when v.keep_reason = 1 then ${orderJournal.reason} else v.reason end`,
        updatedAt: sql`now()`,
      })
      .from(
        sql`unnest(
          ${column((u) => requireId(u.id, 'journal entry').toString())}::bigint[],
          ${column((u) => u.state)}::text[],
          ${column((u) => (u.brokerOrderIds ? JSON.stringify(u.brokerOrderIds) : null))}::text[],
          ${column((u) => (u.reason === undefined ? 1 : 0))}::integer[],
          ${column((u) => u.reason ?? null)}::text[]
        ) as v(id, state, broker_order_ids, keep_reason, reason)`,
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

  /** The newest signals with an entry for any of these accounts, newest first (ids). */
  async signalsOf(accountIds: readonly string[], limit: number): Promise<string[]> {
    const keys = accountIds.map(parseId).filter((k): k is bigint => k !== null);
    if (keys.length === 0) return [];
    const rows = await this.#db
      .selectDistinct({ signalId: orderJournal.signalId })
      .from(orderJournal)
      .where(inArray(orderJournal.accountId, keys))
      .orderBy(desc(orderJournal.signalId))
      .limit(limit);
    return rows.map((r) => idString(r.signalId));
  }

  /** Whether the signal has any entry (one index probe, no rows read). */
  async hasEntries(signalId: string): Promise<boolean> {
    const key = parseId(signalId);
    if (key === null) return false;
    const rows = await this.#db
      .select({ id: orderJournal.id })
      .from(orderJournal)
      .where(eq(orderJournal.signalId, key))
      .limit(1);
    return rows.length > 0;
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

/** Distinct values as JSON text, numbered from 1 in order of first appearance (SQL arrays count from 1). */
class Distinct {
  readonly values: string[] = [];
  readonly #numbers = new Map<string, number>();

  index(value: unknown): number {
    const json = JSON.stringify(value);
    let n = this.#numbers.get(json);
    if (n === undefined) {
      n = this.values.push(json);
      this.#numbers.set(json, n);
    }
    return n;
  }
}

/** The rows of a raw statement: postgres.js answers with an array of rows, PGlite with `{ rows }`. */
function resultRows<T>(result: unknown): T[] {
  if (Array.isArray(result)) return result as T[];
  return ((result as { rows?: T[] }).rows ?? []) as T[];
}
