/**
 * Batches journal state changes from every lane into few statements. `update` resolves once the
 * change is durable, so a lane can wait for `sending` to be written before it calls the broker.
 */
import type { JournalStore, JournalUpdate } from './stores.js';

export interface JournalWriterOptions {
  readonly store: JournalStore;
  /** Flush when this many updates are waiting. */
  readonly maxBatch?: number;
  /** Flush at the latest this long after the first waiting update. */
  readonly maxDelayMs?: number;
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
  private waiting: Waiting[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();

  constructor(options: JournalWriterOptions) {
    this.store = options.store;
    this.maxBatch = options.maxBatch ?? 500;
    this.maxDelayMs = options.maxDelayMs ?? 5;
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
      if (this.waiting.length >= this.maxBatch) this.flushSoon(0);
      else this.flushSoon(this.maxDelayMs);
    });
  }

  /** Write everything waiting now. */
  flush(): Promise<void> {
    this.flushSoon(0);
    return this.flushing;
  }

  private flushSoon(delayMs: number): void {
    if (delayMs === 0) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      this.flushing = this.flushing.then(() => this.writeBatch());
      return;
    }
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flushing = this.flushing.then(() => this.writeBatch());
    }, delayMs);
  }

  private async writeBatch(): Promise<void> {
    while (this.waiting.length > 0) {
      const batch = this.waiting.splice(0, this.maxBatch);
      // Several updates of one row in a batch: the last one wins, in order.
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
}
