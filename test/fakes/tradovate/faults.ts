/**
 * Injected latency and failures, drawn from one seeded generator so a failing run can be replayed
 * with the same seed.
 */
import type { Faults, LatencyInfo, LatencyOption } from './types.js';

/** mulberry32: small, fast and good enough to pick which requests fail. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function defaultFaults(overrides: Partial<Faults> = {}): Faults {
  return {
    serverErrorRate: 0,
    timeoutRate: 0,
    penaltyRate: 0,
    rateLimitUsers: [],
    dropSocketAfterMessages: null,
    endpoints: [],
    ...overrides,
  };
}

export type FaultDecision = 'none' | 'server-error' | 'timeout' | 'penalty' | 'rate-limit';

export class FaultInjector {
  constructor(
    readonly faults: Faults,
    private readonly random: () => number,
    private readonly latency: LatencyOption | undefined,
  ) {}

  /** Which fault, if any, hits this request. `endpoint` is lowercase. */
  decide(endpoint: string, userName: string | null): FaultDecision {
    const f = this.faults;
    if (userName !== null && f.rateLimitUsers.includes(userName)) return 'rate-limit';
    if (f.endpoints.length > 0 && !f.endpoints.includes(endpoint)) return 'none';
    // Draw only when a rate is set, so enabling a fault does not shift the sequence of the others.
    if (f.serverErrorRate > 0 && this.random() < f.serverErrorRate) return 'server-error';
    if (f.timeoutRate > 0 && this.random() < f.timeoutRate) return 'timeout';
    if (f.penaltyRate > 0 && this.random() < f.penaltyRate) return 'penalty';
    return 'none';
  }

  /** Milliseconds to hold this answer back. */
  delay(info: LatencyInfo): number {
    return this.latency === undefined ? 0 : drawDelay(this.latency, this.random, info);
  }
}

/** One draw of a delay option: its function's answer, or `meanMs ± jitterMs`; never negative. */
export function drawDelay(option: LatencyOption, random: () => number, info: LatencyInfo): number {
  if (typeof option === 'function') return Math.max(0, option(info));
  return Math.max(0, option.meanMs + (random() * 2 - 1) * option.jitterMs);
}

/**
 * A network path: each item is delivered no earlier than its own delay, and never before one pushed
 * earlier (TCP does not reorder). Items due together are delivered in one turn.
 */
export class DelayLine {
  private readonly queue: { at: number; run: () => void }[] = [];
  private timer: NodeJS.Timeout | null = null;
  private last = 0;

  push(delayMs: number, run: () => void): void {
    const at = Math.max(performance.now() + delayMs, this.last);
    this.last = at;
    this.queue.push({ at, run });
    this.arm();
  }

  /** Drop what is still on its way (the connection closed). */
  clear(): void {
    this.queue.length = 0;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(): void {
    if (this.timer || this.queue.length === 0) return;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        const now = performance.now();
        let due = 0;
        while (due < this.queue.length && this.queue[due]!.at <= now + 0.5) due++;
        for (const item of this.queue.splice(0, due)) item.run();
        this.arm();
      },
      Math.max(0, this.queue[0]!.at - performance.now()),
    );
  }
}
