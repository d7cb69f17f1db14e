/**
 * One message that shows a fan-out's progress and then its result. Progress arrives as fast as the
 * engine reports it; Discord rate-limits edits, so edits are throttled (the first once the fan-out
 * has run for one interval, so quick ones go straight to their result), never overlap, and only the
 * newest progress is sent. The final view always goes out last: a progress edit still in flight is
 * waited for, and any progress after it is dropped.
 */
import type { FanoutProgress, Logger } from '../../src/index.js';
import { renderProgress, type View } from './render.js';

export interface LiveMessageOptions {
  /** Shows a view: edits the message (or posts it the first time). */
  readonly show: (view: View) => Promise<unknown>;
  readonly log: Logger;
  /** At most one progress edit per this many milliseconds, the first after as long a run. */
  readonly minIntervalMs?: number;
}

export class LiveMessage {
  private inFlight: Promise<void> = Promise.resolve();
  private pending: FanoutProgress | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastShownAt = 0;
  private done = false;
  private readonly minIntervalMs: number;

  constructor(private readonly options: LiveMessageOptions) {
    this.minIntervalMs = options.minIntervalMs ?? 1000;
  }

  /** Whether any progress has been shown (the message exists). */
  get started(): boolean {
    return this.lastShownAt > 0;
  }

  /** Hooks for the command layer: progress lands here. */
  hooks(): { onProgress: (progress: FanoutProgress) => void } {
    return { onProgress: (p) => this.progress(p) };
  }

  progress(p: FanoutProgress): void {
    // The last report (everything answered) is followed at once by the result; showing it is noise.
    if (this.done || p.done >= p.total) return;
    this.pending = p;
    if (this.timer) return;
    // A fan-out that is over within one interval never shows progress: its result follows at once.
    const wait = Math.max(
      this.lastShownAt + this.minIntervalMs - Date.now(),
      this.minIntervalMs - p.elapsedMs,
    );
    if (wait <= 0) {
      this.flush();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
    }, wait);
    this.timer.unref();
  }

  /** Show the final view, after any progress edit in flight; later progress is ignored. */
  async finish(view: View): Promise<void> {
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.inFlight;
    await this.options.show(view);
  }

  private flush(): void {
    const p = this.pending;
    this.pending = null;
    if (!p || this.done) return;
    this.lastShownAt = Date.now();
    this.inFlight = this.inFlight
      .then(() => (this.done ? undefined : this.options.show(renderProgress(p))))
      .then(
        () => undefined,
        (error: unknown) => this.options.log.warn({ err: error }, 'could not show fan-out progress'),
      );
  }
}
