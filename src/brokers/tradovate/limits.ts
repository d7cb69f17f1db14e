/**
 * Request budgets. Tradovate counts requests per user (per second, minute and hour) and counts the
 * login and renewal endpoints per IP, so each credential gets its own budget and the two auth
 * endpoints get process-wide ones. Callers wait for the budget (the limiter says how long), in
 * priority order: placement first, then queries, then background work.
 */
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { Result } from '../../domain/result.js';
import { err, ok } from '../../domain/result.js';
import type { BrokerError } from '../errors.js';
import { rateLimited, unavailable } from '../errors.js';
import type { Priority } from './types.js';

/** One counting window. A thin seam so a PostgreSQL-backed store can replace the in-memory one. */
export interface WindowLimiter {
  readonly points: number;
  readonly durationSec: number;
  /** Take `points` if they fit; when they do not, take nothing and say how long to wait. */
  consume(
    key: string,
    points: number,
  ): Promise<{ readonly ok: true } | { readonly ok: false; readonly msBeforeNext: number }>;
  /** Give points back (used to undo a partial take across several windows). */
  refund(key: string, points: number): Promise<void>;
  /** Points used in the current window, 0 when none. */
  used(key: string): Promise<number>;
}

export type WindowLimiterFactory = (spec: {
  name: string;
  points: number;
  durationSec: number;
}) => WindowLimiter;

/** The default store: rate-limiter-flexible's in-memory limiter. */
export const memoryWindowLimiter: WindowLimiterFactory = ({ name, points, durationSec }) => {
  const limiter = new RateLimiterMemory({ keyPrefix: name, points, duration: durationSec });
  return {
    points,
    durationSec,
    async consume(key, n) {
      try {
        await limiter.consume(key, n);
        return { ok: true };
      } catch (e) {
        if (!(e instanceof RateLimiterRes)) throw e;
        // A refused consume still counts in the store; give the points back so a wait costs nothing.
        await limiter.reward(key, n);
        return { ok: false, msBeforeNext: Math.max(1, e.msBeforeNext) };
      }
    },
    async refund(key, n) {
      await limiter.reward(key, n);
    },
    async used(key) {
      const res = await limiter.get(key);
      return res ? Math.max(0, res.consumedPoints) : 0;
    },
  };
};

export interface RateLimitOptions {
  /** Requests per credential per second. */
  readonly perSecond: number;
  /** Requests per credential per minute. */
  readonly perMinute: number;
  /** Requests per credential per hour. */
  readonly perHour: number;
  /** `auth/accesstokenrequest` calls per hour for this process (Tradovate counts per IP). */
  readonly accessTokenRequestsPerHour: number;
  /** `auth/renewaccesstoken` calls per hour for this process (Tradovate counts per IP). */
  readonly renewalsPerHour: number;
  /** Longest a call waits for budget before it is refused as `rate_limited`, in ms. */
  readonly maxWaitMs: number;
  /** How long a credential rests after a 429, in ms. */
  readonly cooldownMs: number;
  /** Longest penalty (`p-time`) waited out before resending, in ms; longer ones are refused. */
  readonly maxPenaltyWaitMs: number;
  /** How many times one request is resent with a penalty ticket. */
  readonly maxPenaltyRetries: number;
}

/** Conservative defaults: the widely reported 80/min and 5,000/h, and the documented per-IP auth limits. */
export const DEFAULT_LIMITS: RateLimitOptions = {
  perSecond: 10,
  perMinute: 80,
  perHour: 5000,
  accessTokenRequestsPerHour: 5,
  renewalsPerHour: 15,
  maxWaitMs: 60_000,
  cooldownMs: 60 * 60_000,
  maxPenaltyWaitMs: 5 * 60_000,
  maxPenaltyRetries: 3,
};

/** Budget usage of one credential, for the dashboard. */
export interface BudgetUsage {
  readonly second: number;
  readonly minute: number;
  readonly hour: number;
  readonly limits: { readonly second: number; readonly minute: number; readonly hour: number };
}

const RANK: Record<Priority, number> = { order: 0, query: 1, background: 2 };

interface Waiter {
  readonly rank: number;
  readonly seq: number;
  readonly deadline: number;
  readonly resolve: (r: Result<void, BrokerError>) => void;
}

/**
 * Budgets taken from several windows at once: all or nothing, so a refusal in the hour window does
 * not eat into the second window.
 */
class MultiWindow {
  constructor(private readonly windows: readonly WindowLimiter[]) {}

  async take(key: string, points = 1): Promise<{ ok: true } | { ok: false; msBeforeNext: number }> {
    const taken: WindowLimiter[] = [];
    for (const w of this.windows) {
      const r = await w.consume(key, points);
      if (!r.ok) {
        await Promise.all(taken.map((t) => t.refund(key, points)));
        return r;
      }
      taken.push(w);
    }
    return { ok: true };
  }
}

/** Waiters admitted with one take of the budget while it has room for all of them. */
const MAX_BURST = 16;

/**
 * One queue of callers waiting for one budget. The head is always the best-ranked waiter at the
 * moment budget frees up, so an order that arrives while queries wait goes first. While the budget
 * has room, the waiters queued at that moment are admitted with one take of all their points (a
 * credential's burst of orders costs one pass over the windows, not one per order); once a take is
 * refused, waiters are admitted one by one until the queue empties.
 */
class PriorityGate {
  private readonly waiters: Waiter[] = [];
  private seq = 0;
  private burst = MAX_BURST;
  private pumping = false;
  private timer: NodeJS.Timeout | null = null;
  private wake: (() => void) | null = null;
  private closed = false;

  constructor(
    private readonly key: string,
    private readonly budget: MultiWindow,
    private readonly onIdle: () => void,
  ) {}

  get size(): number {
    return this.waiters.length;
  }

  enter(priority: Priority, maxWaitMs: number): Promise<Result<void, BrokerError>> {
    if (this.closed) return Promise.resolve(err(unavailable('Closed', 'the broker is closed', false)));
    return new Promise((resolve) => {
      const waiter: Waiter = {
        rank: RANK[priority],
        seq: this.seq++,
        deadline: Date.now() + maxWaitMs,
        resolve,
      };
      let i = this.waiters.length;
      while (i > 0 && this.compare(this.waiters[i - 1]!, waiter) > 0) i--;
      this.waiters.splice(i, 0, waiter);
      if (!this.pumping) void this.pump();
    });
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.wake?.();
    for (const w of this.waiters.splice(0))
      w.resolve(err(unavailable('Closed', 'the broker is closed', false)));
  }

  private compare(a: Waiter, b: Waiter): number {
    return a.rank - b.rank || a.seq - b.seq;
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (this.waiters.length > 0 && !this.closed) {
        const n = Math.min(this.waiters.length, this.burst);
        const r = await this.budget.take(this.key, n);
        if (r.ok) {
          for (const w of this.waiters.splice(0, n)) w.resolve(ok(undefined));
          continue;
        }
        if (n > 1) {
          this.burst = 1;
          continue;
        }
        // Refuse now whoever would still be waiting past their deadline.
        const readyAt = Date.now() + r.msBeforeNext;
        for (let i = this.waiters.length - 1; i >= 0; i--) {
          const w = this.waiters[i]!;
          if (w.deadline < readyAt) {
            this.waiters.splice(i, 1);
            w.resolve(err(rateLimited('request budget exhausted for this credential', r.msBeforeNext)));
          }
        }
        if (this.waiters.length === 0) break;
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          this.timer = setTimeout(resolve, r.msBeforeNext);
        });
        this.wake = null;
        this.timer = null;
      }
    } finally {
      this.pumping = false;
      this.burst = MAX_BURST;
      if (this.waiters.length === 0) this.onIdle();
    }
  }
}

export type AuthEndpoint = 'accesstokenrequest' | 'renewaccesstoken';

export interface BudgetsOptions {
  readonly limits: RateLimitOptions;
  readonly limiterFactory?: WindowLimiterFactory;
  /** Key of this process's auth-endpoint budgets; one per egress IP when scaled out. */
  readonly processKey?: string;
}

/** Per-credential request budgets with priority, and the process-wide auth-endpoint budgets. */
export class Budgets {
  private readonly second: WindowLimiter;
  private readonly minute: WindowLimiter;
  private readonly hour: WindowLimiter;
  private readonly credentialBudget: MultiWindow;
  private readonly auth: Record<AuthEndpoint, MultiWindow>;
  private readonly gates = new Map<string, PriorityGate>();
  private readonly authGates = new Map<AuthEndpoint, PriorityGate>();
  private readonly processKey: string;
  private closed = false;

  constructor(private readonly options: BudgetsOptions) {
    const make = options.limiterFactory ?? memoryWindowLimiter;
    const l = options.limits;
    this.second = make({ name: 'tv:user:s', points: l.perSecond, durationSec: 1 });
    this.minute = make({ name: 'tv:user:m', points: l.perMinute, durationSec: 60 });
    this.hour = make({ name: 'tv:user:h', points: l.perHour, durationSec: 3600 });
    this.credentialBudget = new MultiWindow([this.second, this.minute, this.hour]);
    this.auth = {
      accesstokenrequest: new MultiWindow([
        make({ name: 'tv:ep:accesstokenrequest', points: l.accessTokenRequestsPerHour, durationSec: 3600 }),
      ]),
      renewaccesstoken: new MultiWindow([
        make({ name: 'tv:ep:renewaccesstoken', points: l.renewalsPerHour, durationSec: 3600 }),
      ]),
    };
    this.processKey = options.processKey ?? 'process';
  }

  get limits(): RateLimitOptions {
    return this.options.limits;
  }

  /** Wait for one request's worth of the credential's budget, in priority order. */
  acquire(credentialId: string, priority: Priority, maxWaitMs = this.options.limits.maxWaitMs) {
    if (this.closed) return Promise.resolve(err(unavailable('Closed', 'the broker is closed', false)));
    let gate = this.gates.get(credentialId);
    if (!gate) {
      gate = new PriorityGate(credentialId, this.credentialBudget, () => {
        if (gate && gate.size === 0) this.gates.delete(credentialId);
      });
      this.gates.set(credentialId, gate);
    }
    return gate.enter(priority, maxWaitMs);
  }

  /** Wait for one call's worth of an auth endpoint's process-wide budget. */
  acquireAuth(endpoint: AuthEndpoint, maxWaitMs: number): Promise<Result<void, BrokerError>> {
    if (this.closed) return Promise.resolve(err(unavailable('Closed', 'the broker is closed', false)));
    let gate = this.authGates.get(endpoint);
    if (!gate) {
      gate = new PriorityGate(this.processKey, this.auth[endpoint], () => {});
      this.authGates.set(endpoint, gate);
    }
    return gate.enter('order', maxWaitMs);
  }

  /** Requests used in the credential's current windows. */
  async usage(credentialId: string): Promise<BudgetUsage> {
    const [second, minute, hour] = await Promise.all([
      this.second.used(credentialId),
      this.minute.used(credentialId),
      this.hour.used(credentialId),
    ]);
    const l = this.options.limits;
    return { second, minute, hour, limits: { second: l.perSecond, minute: l.perMinute, hour: l.perHour } };
  }

  close(): void {
    this.closed = true;
    for (const g of this.gates.values()) g.close();
    for (const g of this.authGates.values()) g.close();
    this.gates.clear();
    this.authGates.clear();
  }
}
