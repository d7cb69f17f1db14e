import { desc, eq, getTableColumns, inArray, sql } from 'drizzle-orm';
import type { Principal, Signal, SignalSource } from '../../domain/types.js';
import type { Db } from '../client.js';
import { signals } from '../schema/index.js';
import { idString, parseId } from './ids.js';
import { FINISHED_SIGNAL_STATUSES, type SignalRecord, type SignalStatus } from './types.js';

type SignalRow = typeof signals.$inferSelect;

const toSignal = (row: SignalRow): SignalRecord => ({ ...row, id: idString(row.id) });

/** A signal without its summary: its totals stand in for it in lists. */
export type SignalHead = Omit<SignalRecord, 'summary'>;

const { summary: _summary, ...HEAD } = getTableColumns(signals);

/** A summary without its per-account outcomes. */
function totalsOf(summary: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const { outcomes: _outcomes, ...totals } = summary;
  return totals;
}

export interface NewSignal {
  readonly dedupKey: string;
  readonly source: SignalSource;
  readonly principal: Principal;
  readonly body: Signal;
  /** The status it is recorded in: `received` unless the caller starts on it at once (`executing`). */
  readonly status?: 'received' | 'executing';
}

/** Received signals: the idempotency record of intake. */
export class SignalsRepository {
  readonly #db: Db;

  constructor({ db }: { db: Db }) {
    this.#db = db;
  }

  /**
   * Records a signal unless one with the same dedup key exists. `created` is false for a repeated
   * delivery, and `signal` is then the first one, whose outcome the caller points at. Safe against
   * concurrent deliveries: the unique key decides, not a prior read.
   */
  async insertIfNew(input: NewSignal): Promise<{ signal: SignalRecord; created: boolean }> {
    const [inserted] = await this.#db
      .insert(signals)
      .values({
        dedupKey: input.dedupKey,
        source: input.source,
        principal: input.principal,
        body: input.body,
        ...(input.status ? { status: input.status } : {}),
      })
      .onConflictDoNothing({ target: signals.dedupKey })
      .returning();
    if (inserted) return { signal: toSignal(inserted), created: true };
    const [existing] = await this.#db.select().from(signals).where(eq(signals.dedupKey, input.dedupKey));
    if (!existing) throw new Error(`Signal ${input.dedupKey} conflicted on insert but cannot be read`);
    return { signal: toSignal(existing), created: false };
  }

  /** The signal recorded under a dedup key; null when there is none. */
  async findByDedupKey(dedupKey: string): Promise<SignalRecord | null> {
    const [row] = await this.#db.select().from(signals).where(eq(signals.dedupKey, dedupKey));
    return row ? toSignal(row) : null;
  }

  /** A signal by id; null when there is none. */
  async get(id: string): Promise<SignalRecord | null> {
    const key = parseId(id);
    if (key === null) return null;
    const [row] = await this.#db.select().from(signals).where(eq(signals.id, key));
    return row ? toSignal(row) : null;
  }

  /**
   * Moves a signal to `status`, storing `summary` when given. Reaching done, rejected or failed sets
   * `finishedAt`. Returns false when the signal does not exist.
   */
  async setStatus(
    id: string,
    status: SignalStatus,
    summary?: Readonly<Record<string, unknown>>,
  ): Promise<boolean> {
    const key = parseId(id);
    if (key === null) return false;
    const rows = await this.#db
      .update(signals)
      .set({
        status,
        ...(summary !== undefined ? { summary: { ...summary }, totals: totalsOf(summary) } : {}),
        finishedAt: FINISHED_SIGNAL_STATUSES.has(status) ? sql`now()` : null,
      })
      .where(eq(signals.id, key))
      .returning({ id: signals.id });
    return rows.length > 0;
  }

  /**
   * The latest signals, newest first, without their summaries (megabytes each at 10,000 accounts);
   * their totals stand in for lists.
   */
  async recentHeads(limit: number): Promise<SignalHead[]> {
    const rows = await this.#db.select(HEAD).from(signals).orderBy(desc(signals.id)).limit(limit);
    return rows.map((row) => ({ ...row, id: idString(row.id) }));
  }

  /**
   * Some signals without their summaries, newest first, each with the outcomes of the given
   * accounts only: what one trader's view of a 10,000-account fan-out needs, picked out by the
   * database instead of reading the whole summary.
   */
  async withOutcomesOf(
    ids: readonly string[],
    accountIds: readonly string[],
  ): Promise<(SignalHead & { readonly outcomes: readonly Record<string, unknown>[] })[]> {
    const keys = ids.map(parseId).filter((k): k is bigint => k !== null);
    if (keys.length === 0 || accountIds.length === 0) return [];
    const mine = sql.join(
      accountIds.map((a) => sql`${a}`),
      sql`, `,
    );
    const outcomes = sql<Record<string, unknown>[] | null>`(
      select json_agg(o) from json_array_elements(${signals.summary} -> 'outcomes') as o
      where o ->> 'accountId' in (${mine})
    )`;
    const rows = await this.#db
      .select({ ...HEAD, outcomes })
      .from(signals)
      .where(inArray(signals.id, keys))
      .orderBy(desc(signals.id));
    return rows.map((row) => ({ ...row, id: idString(row.id), outcomes: row.outcomes ?? [] }));
  }
}
