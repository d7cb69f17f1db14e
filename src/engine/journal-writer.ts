/**
 * Batches journal state changes from every lane into few statements. `update` resolves once the
 * change is durable.
 *
 * Several batches may be written at once (the database pool serves them in parallel). That is safe
 * because a row gets one outcome per program run (acked, rejected or unknown, queued after the
 * broker answered), and runs of one account never overlap. Within one batch the last update of a
 * row wins.
 */
import type { JournalStore, JournalUpdate } from './stores.js';

export interface JournalWriterOptions {
  readonly store: JournalStore;
  /** Flush when this many updates are waiting. */
  readonly maxBatch?: number;
  /** Flush at the latest this long after the first waiting update. */
  readonly maxDelayMs?: number;
  /** Batches written at the same time. */
  readonly maxInFlight?: number;
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
  private readonly maxInFlight: number;
  private waiting: Waiting[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(options: JournalWriterOptions) {
    this.store = options.store;
    this.maxBatch = options.maxBatch ?? 500;
    this.maxDelayMs = options.maxDelayMs ?? 10;
    this.maxInFlight = options.maxInFlight ?? 4;
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
      for (const update of updates) this.waiting.push({ update, resolve: one, reject });
      if (this.waiting.length >= this.maxBatch) this.pump();
      else if (!this.timer) {
        this.timer = setTimeout(() => {
          this.timer = null;
          this.pump();
        }, this.maxDelayMs);
      }
    });
  }

  /** Write everything waiting now, and wait for every write in flight. */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    while (this.waiting.length > 0 || this.inFlight.size > 0) {
      this.pump();
      await Promise.race(this.inFlight);
    }
  }

  /** Start batches while there is work and room. */
  private pump(): void {
    while (this.waiting.length > 0 && this.inFlight.size < this.maxInFlight) {
      const batch = this.waiting.splice(0, this.maxBatch);
      const write = this.writeBatch(batch).finally(() => {
        this.inFlight.delete(write);
        this.pump();
      });
      this.inFlight.add(write);
    }
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
