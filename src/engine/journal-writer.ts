/**
 * Batches journal writes from every lane into few statements: state changes (`JournalWriter`) and
 * the rows programs add as they go (`JournalInserter`). Both resolve once the write is durable.
 *
 * State changes:
 * Several batches may be written at once (the database pool serves them in parallel). That is safe
 * because a row gets one outcome per program run (acked, rejected or unknown, queued after the
 * broker answered), and runs of one account never overlap. Within one batch the last update of a
 * row wins.
 */
import type { JournalEntry } from '../domain/orders.js';
import type { JournalStore, JournalUpdate, NewJournalEntry } from './stores.js';

export interface JournalWriterOptions {
  readonly store: JournalStore;
  /** Flush when this many updates are waiting. */
  readonly maxBatch?: number;
  /** Flush at the latest this long after the first waiting update. */
  readonly maxDelayMs?: number;
  /** Batches written at the same time. */
  readonly maxInFlight?: number;
}

/** Items waiting to be written in batches, with at most `maxInFlight` batches being written at once. */
class Batches<T> {
  private waiting: T[] = [];
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly write: (batch: T[]) => Promise<void>,
    private readonly maxBatch: number,
    private readonly maxInFlight: number,
  ) {}

  get size(): number {
    return this.waiting.length;
  }

  add(item: T): void {
    this.waiting.push(item);
  }

  /** Start batches while there is work and room; a batch that ends starts the next. */
  pump(): void {
    while (this.waiting.length > 0 && this.inFlight.size < this.maxInFlight) {
      const batch = this.waiting.splice(0, this.maxBatch);
      const write = this.write(batch).finally(() => {
        this.inFlight.delete(write);
        this.pump();
      });
      this.inFlight.add(write);
    }
  }

  /** Write everything waiting, and wait for every write in flight. */
  async drain(): Promise<void> {
    while (this.waiting.length > 0 || this.inFlight.size > 0) {
      this.pump();
      await Promise.race(this.inFlight);
    }
  }
}

interface Waiting {
  readonly update: JournalUpdate;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

export class JournalWriter {
  private readonly store: JournalStore;
  private readonly maxBatch: number;
  private readonly maxDelayMs: number;
  private readonly batches: Batches<Waiting>;
  private timer: NodeJS.Timeout | null = null;

  constructor(options: JournalWriterOptions) {
    this.store = options.store;
    this.maxBatch = options.maxBatch ?? 500;
    this.maxDelayMs = options.maxDelayMs ?? 10;
    this.batches = new Batches((batch) => this.writeBatch(batch), this.maxBatch, options.maxInFlight ?? 4);
  }

  /** Queue updates; resolves when they are written. */
  update(updates: readonly JournalUpdate[]): Promise<void> {
    if (updates.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let left = updates.length;
      const one = () => {
        left -= 1;
        if (left === 0) resolve();
      };
      for (const update of updates) this.batches.add({ update, resolve: one, reject });
      if (this.batches.size >= this.maxBatch) this.batches.pump();
      else if (!this.timer) {
        this.timer = setTimeout(() => {
          this.timer = null;
          this.batches.pump();
        }, this.maxDelayMs);
      }
    });
  }

  /** Write everything waiting now, and wait for every write in flight. */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.batches.drain();
  }

  private async writeBatch(batch: readonly Waiting[]): Promise<void> {
    const last = new Map<string, JournalUpdate>();
    for (const w of batch) last.set(w.update.id, w.update);
    try {
      await this.store.updateMany([...last.values()]);
      for (const w of batch) w.resolve();
    } catch (error) {
      for (const w of batch) w.reject(error);
    }
  }
}

export interface JournalInserterOptions {
  readonly store: JournalStore;
  /** Rows in one statement at most. */
  readonly maxBatch?: number;
  /** Statements running at once; rows arriving meanwhile wait and go together in the next one. */
  readonly maxInFlight?: number;
}

interface WaitingRow {
  readonly entry: NewJournalEntry;
  readonly resolve: (row: JournalEntry) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Batches the rows programs journal as they go (a flatten's cancels and liquidations, known only
 * once the account's working orders are read) into few INSERT statements. `insert` resolves with
 * the stored row once it is durable, so a program still sends nothing before its row is written.
 * Rows of one turn go together at once; while the statements in flight are at their limit, later
 * rows gather for the next one, so batches grow with load and nothing waits on a timer.
 *
 * A failed statement is retried row by row: one bad row (an account removed meanwhile, a client
 * order id already journaled) fails only its own program.
 */
export class JournalInserter {
  private readonly store: JournalStore;
  private readonly batches: Batches<WaitingRow>;
  private scheduled = false;

  constructor(options: JournalInserterOptions) {
    this.store = options.store;
    this.batches = new Batches(
      (batch) => this.write(batch),
      options.maxBatch ?? 1_000,
      options.maxInFlight ?? 2,
    );
  }

  insert(entry: NewJournalEntry): Promise<JournalEntry> {
    return new Promise<JournalEntry>((resolve, reject) => {
      this.batches.add({ entry, resolve, reject });
      if (this.scheduled) return;
      this.scheduled = true;
      queueMicrotask(() => {
        this.scheduled = false;
        this.batches.pump();
      });
    });
  }

  private async write(batch: readonly WaitingRow[]): Promise<void> {
    try {
      const rows = await this.store.insertMany(batch.map((w) => w.entry));
      for (const [i, w] of batch.entries()) w.resolve(rows[i]!);
      return;
    } catch (error) {
      if (batch.length === 1) {
        batch[0]!.reject(error);
        return;
      }
    }
    await Promise.all(
      batch.map(async (w) => {
        try {
          const [row] = await this.store.insertMany([w.entry]);
          w.resolve(row!);
        } catch (error) {
          w.reject(error);
        }
      }),
    );
  }
}
