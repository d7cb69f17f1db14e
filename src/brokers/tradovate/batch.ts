/**
 * Read coalescing for one credential. Tradovate counts requests per user, and a fan-out asks the
 * same question for every account of a user at nearly the same moment (positions before an entry,
 * working orders before a flatten, the entry order of each bracket strategy just started). Callers
 * that arrive while a batch is still collecting share one request (`ldeps?masterids=`, or a `list`
 * that holds every account); each gets back only the rows of the masters it asked for.
 *
 * Nothing is kept once the answer is handed out. A caller may also share a request already on its
 * way, but only when that request covers every master it asks for and none of those masters has
 * changed since it was sent (a mutation of the account, or a venue event about it): a read made
 * after a mutation never gets an answer from before it.
 */
import { ok } from '../../domain/result.js';
import type { BrokerResult } from '../broker.js';
import type { Priority } from './types.js';

/** What one request brought back. */
export interface Loaded<T> {
  /** The rows; they may include rows of masters nobody asked for. */
  readonly result: BrokerResult<T[]>;
  /** The answer holds every master's rows (a `list`), not only those asked. */
  readonly all: boolean;
}

export interface BatcherOptions<T> {
  /** One venue request for these masters. */
  readonly load: (masterIds: readonly number[], priority: Priority) => Promise<Loaded<T>>;
  /** The master a row belongs to (`accountId`, `orderId`, `orderStrategyId`). */
  readonly masterOf: (row: T) => number | null;
  /** Longest the first caller of a batch waits for others, ms. */
  readonly windowMs: number;
  /** Most masters in one batch. */
  readonly maxMasters: number;
  /** True when no other caller is expected (every account asked, no strategy start in flight): send now. */
  readonly complete?: (masters: ReadonlySet<number>) => boolean;
  /**
   * True when `load` for these masters is expected to answer for every master there is (a `list`):
   * callers for other masters may then wait for it. Should the answer not cover them after all,
   * they ask again.
   */
  readonly coversAll?: (masterIds: readonly number[]) => boolean;
  /**
   * Change counters by master (missing = 0). With it, a request on its way is shared with a later
   * caller whose masters have not changed since it was sent; without it, only unsent batches are.
   */
  readonly generations?: () => ReadonlyMap<number, number>;
  /** Told how many rows of masters nobody asked for were dropped. */
  readonly onForeign?: (dropped: number, masters: readonly number[]) => void;
}

interface Waiter<T> {
  readonly masters: ReadonlySet<number>;
  readonly resolve: (r: BrokerResult<T[]>) => void;
  readonly reject: (error: unknown) => void;
}

interface Batch<T> {
  readonly masters: Set<number>;
  readonly waiters: Waiter<T>[];
  priority: Priority;
  timer: NodeJS.Timeout | null;
  /** The request is expected to answer for every master, not only those asked. */
  all: boolean;
  /** The generations when the request left; set on sending. */
  generations: ReadonlyMap<number, number> | null;
  answer: Promise<Loaded<T>> | null;
}

const RANK: Record<Priority, number> = { order: 0, query: 1, background: 2 };

/** Coalesces `(masters) → rows` reads of one credential and one entity type. */
export class ReadBatcher<T> {
  private open: Batch<T> | null = null;
  private readonly sent = new Set<Batch<T>>();

  constructor(private readonly options: BatcherOptions<T>) {}

  /** The rows of these masters, and only theirs. */
  load(masterIds: readonly number[], priority: Priority): Promise<BrokerResult<T[]>> {
    const masters = new Set(masterIds);
    if (masters.size === 0) return Promise.resolve(ok([]));
    const shared = this.inFlightCovering(masters, priority);
    if (shared) {
      return shared.answer.then((loaded) =>
        loaded.all || [...masters].every((m) => shared.masters.has(m))
          ? this.only(loaded.result, masters)
          : this.load(masterIds, priority),
      );
    }

    let batch = this.open;
    if (batch && union(batch.masters, masters) > this.options.maxMasters) {
      this.send(batch);
      batch = null;
    }
    if (!batch) {
      batch = {
        masters: new Set(),
        waiters: [],
        priority,
        timer: null,
        all: false,
        generations: null,
        answer: null,
      };
      this.open = batch;
    }
    for (const m of masters) batch.masters.add(m);
    if (RANK[priority] < RANK[batch.priority]) batch.priority = priority;
    const opened = batch;
    const answer = new Promise<BrokerResult<T[]>>((resolve, reject) =>
      opened.waiters.push({ masters, resolve, reject }),
    );
    if (opened.masters.size >= this.options.maxMasters || this.options.complete?.(opened.masters)) {
      this.send(opened);
    } else if (!opened.timer) {
      opened.timer = setTimeout(() => this.send(opened), this.options.windowMs);
    }
    return answer;
  }

  /** Send what is collecting now: no other caller is coming. */
  flush(): void {
    if (this.open) this.send(this.open);
  }

  private inFlightCovering(
    masters: ReadonlySet<number>,
    priority: Priority,
  ): { answer: Promise<Loaded<T>>; masters: ReadonlySet<number> } | null {
    const live = this.options.generations?.();
    if (!live) return null;
    for (const b of this.sent) {
      const then = b.generations;
      // A request still waiting for budget behind lower-ranked work would hold this caller back.
      if (!b.answer || !then || RANK[b.priority] > RANK[priority]) continue;
      let covers = true;
      for (const m of masters) {
        if ((!b.all && !b.masters.has(m)) || (then.get(m) ?? 0) !== (live.get(m) ?? 0)) {
          covers = false;
          break;
        }
      }
      if (covers) return { answer: b.answer, masters: b.masters };
    }
    return null;
  }

  private send(batch: Batch<T>): void {
    if (batch.answer) return;
    if (this.open === batch) this.open = null;
    if (batch.timer) clearTimeout(batch.timer);
    batch.timer = null;
    const masters = [...batch.masters].sort((a, b) => a - b);
    const live = this.options.generations?.();
    batch.generations = live ? new Map(live) : null;
    batch.all = this.options.coversAll?.(masters) ?? false;
    const answer = this.options.load(masters, batch.priority);
    batch.answer = answer;
    this.sent.add(batch);
    answer.then(
      ({ result, all }) => {
        this.sent.delete(batch);
        if (result.ok && !all) {
          const foreign = result.value.filter((row) => {
            const m = this.options.masterOf(row);
            return m === null || !batch.masters.has(m);
          }).length;
          if (foreign > 0) this.options.onForeign?.(foreign, masters);
        }
        for (const w of batch.waiters) w.resolve(this.only(result, w.masters));
      },
      (error: unknown) => {
        // A bug below: every caller sees it rather than waiting forever.
        this.sent.delete(batch);
        for (const w of batch.waiters) w.reject(error);
      },
    );
  }

  private only(r: BrokerResult<T[]>, masters: ReadonlySet<number>): BrokerResult<T[]> {
    if (!r.ok) return r;
    return ok(
      r.value.filter((row) => {
        const m = this.options.masterOf(row);
        return m !== null && masters.has(m);
      }),
    );
  }
}

function union(a: ReadonlySet<number>, b: ReadonlySet<number>): number {
  let n = a.size;
  for (const x of b) if (!a.has(x)) n++;
  return n;
}
