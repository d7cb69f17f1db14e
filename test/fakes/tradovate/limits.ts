/**
 * Tradovate's two tiers of request limits (reference §3): a per-user budget over rolling second,
 * minute and hour windows answered with an empty 429, and per-endpoint hourly limits answered with
 * a penalty ticket that the client waits out and resends.
 */
import { randomBytes } from 'node:crypto';
import type { Clock, EndpointLimit, LimitOptions, UserLimits } from './types.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/** Partner docs: authenticated 5,000 per hour, minute and second; anonymous 1,000/1,000/100. */
export const DEFAULT_USER_LIMITS: UserLimits = { perSecond: 5000, perMinute: 5000, perHour: 5000 };
export const DEFAULT_ANONYMOUS_LIMITS: UserLimits = { perSecond: 100, perMinute: 1000, perHour: 1000 };

/** The endpoint-level rows of the partner rate-limit table that concern a trading client. */
export const DEFAULT_ENDPOINT_LIMITS: Readonly<Record<string, EndpointLimit>> = {
  accesstokenrequest: { perHour: 5, backoffSeconds: 15, counts: 'failures', captcha: true },
  renewaccesstoken: { perHour: 15, backoffSeconds: 15, counts: 'all' },
  me: { perHour: 10, backoffSeconds: 30, counts: 'failures' },
  syncrequest: { perHour: 300, backoffSeconds: 3, counts: 'all' },
};

/** Timestamps inside a rolling window; old ones are dropped lazily. */
class Window {
  private readonly times: number[] = [];
  count(now: number, spanMs: number): number {
    const cutoff = now - spanMs;
    while (this.times.length > 0 && this.times[0]! <= cutoff) this.times.shift();
    return this.times.length;
  }
  add(now: number): void {
    this.times.push(now);
  }
}

/** Per-key budget across second, minute and hour windows. Only admitted requests are counted. */
export class UserRateLimiter {
  private readonly windows = new Map<string, { second: Window; minute: Window; hour: Window }>();
  readonly user: UserLimits;
  readonly anonymous: UserLimits;

  constructor(
    private readonly clock: Clock,
    options: LimitOptions = {},
  ) {
    this.user = { ...DEFAULT_USER_LIMITS, ...options.user };
    this.anonymous = { ...DEFAULT_ANONYMOUS_LIMITS, ...options.anonymous };
  }

  /** Counts the request and returns true when it fits, false (not counted) when it must be a 429. */
  admit(key: string, anonymous: boolean): boolean {
    const limits = anonymous ? this.anonymous : this.user;
    let w = this.windows.get(key);
    if (!w) {
      w = { second: new Window(), minute: new Window(), hour: new Window() };
      this.windows.set(key, w);
    }
    const now = this.clock.now();
    if (
      w.second.count(now, SECOND) >= limits.perSecond ||
      w.minute.count(now, MINUTE) >= limits.perMinute ||
      w.hour.count(now, HOUR) >= limits.perHour
    ) {
      return false;
    }
    w.second.add(now);
    w.minute.add(now);
    w.hour.add(now);
    return true;
  }

  reset(): void {
    this.windows.clear();
  }
}

export interface Penalty {
  readonly 'p-ticket': string;
  readonly 'p-time': number;
  readonly 'p-captcha'?: boolean;
}

interface Ticket {
  readonly rule: string;
  readonly key: string;
  readonly readyAt: number;
}

/**
 * Endpoint-level limits with penalty tickets. A ticket is single-use, bound to the endpoint and the
 * limit key, and honoured once its `p-time` has passed: the resent request then skips the limit.
 */
export class EndpointLimiter {
  readonly rules: Readonly<Record<string, EndpointLimit>>;
  private readonly events = new Map<string, Window>();
  private readonly violations = new Map<string, Window>();
  private readonly tickets = new Map<string, Ticket>();

  constructor(
    private readonly clock: Clock,
    options: LimitOptions = {},
  ) {
    this.rules = { ...DEFAULT_ENDPOINT_LIMITS, ...options.endpoints };
  }

  /** The rule for an endpoint is named by its last path segment, lowercase. */
  static ruleName(endpoint: string): string {
    return endpoint.slice(endpoint.lastIndexOf('/') + 1);
  }

  /**
   * Decide before handling. `ticket` is the `p-ticket` the client resent, if any. A redeemed ticket
   * lets the request through whatever the counts say.
   */
  admit(
    rule: string,
    key: string,
    ticket: string | undefined,
  ): { readonly ok: true; readonly redeemed: boolean } | { readonly ok: false; readonly penalty: Penalty } {
    const now = this.clock.now();
    if (ticket !== undefined) {
      const held = this.tickets.get(ticket);
      if (held && held.rule === rule && held.key === key) {
        if (now >= held.readyAt) {
          this.tickets.delete(ticket);
          return { ok: true, redeemed: true };
        }
        // Too early: the same ticket again, with the time still to wait.
        return { ok: false, penalty: this.penaltyBody(rule, ticket, Math.ceil((held.readyAt - now) / 1000)) };
      }
    }
    const limit = this.rules[rule];
    if (!limit || this.window(this.events, rule, key).count(now, HOUR) < limit.perHour) {
      return { ok: true, redeemed: false };
    }
    return { ok: false, penalty: this.issue(rule, key) };
  }

  /** Record a handled request, so the hourly count sees it. */
  record(rule: string, key: string, failed: boolean): void {
    const limit = this.rules[rule];
    if (!limit) return;
    if (limit.counts === 'failures' && !failed) return;
    this.window(this.events, rule, key).add(this.clock.now());
  }

  /** A penalty regardless of counts (the penalty fault); still a real, redeemable ticket. */
  issue(rule: string, key: string): Penalty {
    const now = this.clock.now();
    const limit = this.rules[rule] ?? { backoffSeconds: 1, captcha: false };
    const violations = this.window(this.violations, rule, key);
    const repeat = violations.count(now, HOUR);
    violations.add(now);
    const seconds = Math.min(3600, limit.backoffSeconds * 2 ** repeat);
    const ticket = randomBytes(24).toString('base64url');
    this.tickets.set(ticket, { rule, key, readyAt: now + seconds * 1000 });
    return this.penaltyBody(rule, ticket, seconds);
  }

  reset(): void {
    this.events.clear();
    this.violations.clear();
    this.tickets.clear();
  }

  private penaltyBody(rule: string, ticket: string, seconds: number): Penalty {
    return this.rules[rule]?.captcha
      ? { 'p-ticket': ticket, 'p-time': seconds, 'p-captcha': true }
      : { 'p-ticket': ticket, 'p-time': seconds };
  }

  private window(map: Map<string, Window>, rule: string, key: string): Window {
    const id = `${rule}\u0000${key}`;
    let w = map.get(id);
    if (!w) {
      w = new Window();
      map.set(id, w);
    }
    return w;
  }
}
