/**
 * Token refresh: renew every credential's access token before it expires, within the venue's
 * renewal budget, so that trading never waits on a renewal and never falls back to a login.
 *
 * Each credential's next refresh is its token's expiry minus a margin minus a random jitter, stored
 * with the credential, so credentials authorized in the same minute come due over a spread of
 * minutes. A run each minute renews what is due, never more than the per-minute share of the
 * hourly renewal budget. When more is due than fits, the most urgent go first, and a run with budget
 * to spare renews early whatever could not otherwise be renewed before it expires (a burst of
 * credentials authorized together is spread over the minutes before it comes due).
 *
 * A renewal that fails is retried with backoff while the token is still valid; when the next try
 * would come after the expiry the credential moves to `needs_reauth` and its owner is told once.
 */
import type { BrokerError } from '../brokers/errors.js';
import type { Clock } from '../domain/clock.js';
import type { Result } from '../domain/result.js';
import type { BrokerName, CredentialState } from '../domain/types.js';
import { runPool } from '../engine/pool.js';
import type { Logger } from '../log.js';
import type { Notifier } from '../ports/notifier.js';
import { type IdentityDirectory, notifyUser } from '../ports/notifier.js';

const MINUTE = 60_000;

/** A credential as the refresh job sees it; `Credential` from the repositories satisfies it. */
export interface RefreshCredential {
  readonly id: string;
  readonly ownerUserId: string;
  readonly broker: BrokerName;
  readonly label: string;
  readonly state: CredentialState;
  readonly tokenExpiresAt: Date | null;
  readonly nextRefreshAt: Date | null;
}

/** Credential storage the job needs; `CredentialsRepository` satisfies it. */
export interface RefreshCredentialStore {
  list(): Promise<readonly RefreshCredential[]>;
  get(id: string): Promise<RefreshCredential | null>;
  /** Credentials in state ok due at or before `before`, most overdue first. */
  listDueForRefresh(before: Date, limit: number): Promise<readonly RefreshCredential[]>;
  setNextRefresh(id: string, at: Date | null): Promise<boolean>;
  setState(id: string, state: CredentialState, reason: string | null): Promise<RefreshCredential | null>;
}

/** Where notable events are recorded; `AuditRepository` satisfies it. */
export interface AuditSink {
  record(event: {
    actor: string;
    action: string;
    subject: string;
    details?: Readonly<Record<string, unknown>>;
  }): Promise<unknown>;
}

/** Renew one credential's token now; the Tradovate adapter's `renewToken`. */
export type RenewToken = (credentialId: string) => Promise<Result<{ readonly expiresAt: Date }, BrokerError>>;

/** What a {@link TokenRefresher} is built from, with its tuning. */
export interface TokenRefreshOptions {
  readonly credentials: RefreshCredentialStore;
  readonly users: IdentityDirectory;
  readonly notifier: Notifier;
  readonly audit?: AuditSink;
  readonly renew: RenewToken;
  /** Renewals the venue allows per hour (Tradovate counts them per IP). */
  readonly renewalsPerHour: number;
  readonly clock: Clock;
  readonly log: Logger;
  /** The broker whose credentials this job renews. Default `tradovate`. */
  readonly broker?: BrokerName;
  /** Refresh this long before expiry, before jitter. Default 20 min, ahead of the adapter's own 15-min margin. */
  readonly marginMs?: number;
  /** Up to this much earlier again, drawn per credential. Default 10 min. */
  readonly jitterMs?: number;
  /** A renewal must happen at least this long before the expiry. Default 2 min. */
  readonly safetyMs?: number;
  /** First retry after a failed renewal; doubles per failure. Default 1 min. */
  readonly retryInitialMs?: number;
  /** Longest wait between retries. Default 8 min. */
  readonly retryMaxMs?: number;
  /** How far ahead the job looks for credentials it may have to renew early. Default 60 min. */
  readonly lookaheadMs?: number;
  /** How often unscheduled credentials (newly linked ones) are looked for. Default 5 min. */
  readonly scanEveryMs?: number;
  /** Renewals in flight at once within a run. Default 8. */
  readonly concurrency?: number;
  /** Typical token lifetime, for the capacity warning until a renewal shows the real one. Default 80 min. */
  readonly tokenLifetimeMs?: number;
  /** Uniform in [0, 1); replaceable for deterministic tests. */
  readonly random?: () => number;
}

/** What one run did. */
export interface RefreshReport {
  readonly at: Date;
  /** Renewals this run was allowed. */
  readonly budget: number;
  /** Credentials due now (next refresh at or before now). */
  readonly due: number;
  readonly renewed: number;
  /** Renewed before they came due, to keep ahead of a burst. */
  readonly early: number;
  readonly failed: number;
  /** Due but left for a later run by the budget. */
  readonly deferred: number;
  /** Newly scheduled (linked since the last scan) or rescheduled (renewed elsewhere). */
  readonly scheduled: number;
  readonly needsReauth: number;
}

/** One credential the planner considers. */
export interface RenewalCandidate {
  readonly id: string;
  /** When it comes due, epoch ms. */
  readonly dueAt: number;
  /** Renew before this (the expiry less the safety margin), epoch ms. */
  readonly deadline: number;
}

/**
 * Which candidates to renew now, at most `take`: first those that cannot wait, most urgent first,
 * then those that are due, most urgent first. A candidate cannot wait when, were every later
 * minute's budget (`perMinute`) spent on the candidates with later deadlines, no minute before its
 * own deadline would be left for it. Pure, so the schedule can be checked without a clock.
 */
export function pickRenewals<C extends RenewalCandidate>(
  candidates: readonly C[],
  now: Date,
  take: number,
  perMinute: number,
): C[] {
  if (take <= 0 || candidates.length === 0) return [];
  const t0 = now.getTime();
  const minuteOf = (c: RenewalCandidate) => Math.floor((c.deadline - t0) / MINUTE);
  // Deadlines counted per minute; filling the minutes from the last one back (the latest deadlines
  // take the latest minutes), whatever does not fit spills into earlier minutes. What spills into
  // minute 0, plus what is already late, must go now. This runs over every candidate every
  // minute, so it counts rather than sorts.
  let lastMinute = 0;
  for (const c of candidates) lastMinute = Math.max(lastMinute, minuteOf(c));
  const perMinuteCount = new Float64Array(lastMinute + 1);
  let late = 0;
  for (const c of candidates) {
    const m = minuteOf(c);
    if (m < 0) late++;
    else perMinuteCount[m]! += 1;
  }
  let spill = 0;
  for (let m = lastMinute; m >= 1; m--) spill = Math.max(0, perMinuteCount[m]! + spill - perMinute);
  const mustCount = late + perMinuteCount[0]! + spill;
  const byDeadline = (a: C, b: C) => a.deadline - b.deadline;
  let must: C[] = [];
  if (mustCount > 0) {
    // The must-go candidates are the ones with the earliest deadlines: sort only up to the minute
    // that holds the last of them.
    let threshold = -1;
    let counted = late;
    while (counted < mustCount && threshold < lastMinute) counted += perMinuteCount[++threshold]!;
    must = candidates
      .filter((c) => minuteOf(c) <= threshold)
      .sort(byDeadline)
      .slice(0, mustCount);
  }
  if (must.length >= take) return must.slice(0, take);
  const chosen = new Set(must);
  const due = candidates.filter((c) => c.dueAt <= t0 && !chosen.has(c)).sort(byDeadline);
  return [...must, ...due].slice(0, take);
}

/** The token refresh job's body: one {@link run} per minute. */
export class TokenRefresher {
  readonly perMinute: number;
  private readonly broker: BrokerName;
  private readonly marginMs: number;
  private readonly jitterMs: number;
  private readonly safetyMs: number;
  private readonly retryInitialMs: number;
  private readonly retryMaxMs: number;
  private readonly lookaheadMs: number;
  private readonly scanEveryMs: number;
  private readonly concurrency: number;
  private readonly random: () => number;
  /** Renewal attempts per minute (epoch minute → count), for the rolling hourly cap. */
  private readonly attemptsByMinute = new Map<number, number>();
  /** Failed attempts in a row, per credential. */
  private readonly failures = new Map<string, number>();
  /** Expiries learned from renewals, newer than storage when the store is written elsewhere. */
  private readonly knownExpiry = new Map<string, number>();
  /**
   * Credentials left to their owner (the adapter found them dead), by the token expiry they had:
   * the scan does not schedule them again until a new token (a re-link) changes it.
   */
  private readonly parked = new Map<string, number | null>();
  private lastScan = Number.NEGATIVE_INFINITY;
  private lifetimeMs: number;
  private warnedCapacity = false;
  private lastDeferredWarning = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: TokenRefreshOptions) {
    if (!(options.renewalsPerHour > 0)) throw new Error('renewalsPerHour must be positive');
    // Whole renewals per minute; at least one, with the hourly cap below keeping small budgets honest.
    this.perMinute = Math.max(1, Math.floor(options.renewalsPerHour / 60));
    this.broker = options.broker ?? 'tradovate';
    this.marginMs = options.marginMs ?? 20 * MINUTE;
    this.jitterMs = options.jitterMs ?? 10 * MINUTE;
    this.safetyMs = options.safetyMs ?? 2 * MINUTE;
    this.retryInitialMs = options.retryInitialMs ?? MINUTE;
    this.retryMaxMs = options.retryMaxMs ?? 8 * MINUTE;
    this.lookaheadMs = options.lookaheadMs ?? 60 * MINUTE;
    this.scanEveryMs = options.scanEveryMs ?? 5 * MINUTE;
    this.concurrency = options.concurrency ?? 8;
    this.random = options.random ?? Math.random;
    this.lifetimeMs = options.tokenLifetimeMs ?? 80 * MINUTE;
  }

  /** When a token expiring at `expiresAt` should next be renewed, seen from `now`. */
  nextRefreshFor(expiresAt: Date, now: Date): Date {
    const at = expiresAt.getTime() - this.marginMs - this.random() * this.jitterMs;
    const left = expiresAt.getTime() - now.getTime();
    // A token shorter-lived than the margin is renewed halfway through what is left of it.
    return new Date(at > now.getTime() ? at : now.getTime() + Math.max(0, left / 2));
  }

  /** Schedule one credential now (after linking it), from its token's expiry. */
  async schedule(credential: RefreshCredential): Promise<Date | null> {
    if (credential.broker !== this.broker || credential.state !== 'ok' || !credential.tokenExpiresAt)
      return null;
    const at = this.nextRefreshFor(credential.tokenExpiresAt, this.options.clock.now());
    await this.options.credentials.setNextRefresh(credential.id, at);
    return at;
  }

  /** One pass: schedule newcomers when a scan is due, then renew what must or may be renewed now. */
  async run(signal?: AbortSignal): Promise<RefreshReport> {
    const { credentials, clock, log } = this.options;
    const now = clock.now();
    const t0 = now.getTime();
    let scheduled = 0;
    if (t0 - this.lastScan >= this.scanEveryMs) {
      scheduled += await this.scan(now);
      this.lastScan = t0;
    }
    const budget = this.allowance(t0);
    const limit = Math.max(budget, Math.ceil(this.perMinute * (this.lookaheadMs / MINUTE)));
    const listed = await credentials.listDueForRefresh(new Date(t0 + this.lookaheadMs), limit);
    const candidates: (RenewalCandidate & { readonly credential: RefreshCredential })[] = [];
    let due = 0;
    for (const c of listed) {
      if (c.broker !== this.broker || !c.nextRefreshAt) continue;
      const expiry = this.expiryOf(c);
      const nextAt = c.nextRefreshAt.getTime();
      if (nextAt <= t0) {
        // Renewed elsewhere since it was scheduled (the adapter renews tokens in use): reschedule.
        if (
          expiry !== null &&
          expiry - nextAt > this.marginMs + this.jitterMs + MINUTE &&
          !this.failures.has(c.id)
        ) {
          await credentials.setNextRefresh(c.id, this.nextRefreshFor(new Date(expiry), now));
          scheduled++;
          continue;
        }
        due++;
      }
      candidates.push({
        id: c.id,
        credential: c,
        dueAt: nextAt,
        deadline: expiry !== null ? expiry - this.safetyMs : nextAt + this.marginMs,
      });
    }
    // Future minutes are planned at nine tenths of the budget, leaving room for retries.
    const picked = pickRenewals(candidates, now, budget, Math.max(1, Math.floor(this.perMinute * 0.9)));
    let renewed = 0;
    let early = 0;
    let failed = 0;
    let needsReauth = 0;
    await runPool(picked, this.concurrency, async (candidate) => {
      if (signal?.aborted) return;
      const { credential } = candidate;
      this.countAttempt(t0);
      const outcome = await this.renewOne(credential, now);
      if (outcome === 'renewed') {
        renewed++;
        if (candidate.dueAt > t0) early++;
      } else {
        failed++;
        if (outcome === 'needs_reauth') needsReauth++;
      }
    });
    const deferred = Math.max(0, due - picked.filter((c) => c.dueAt <= t0).length);
    if (deferred > 0) {
      // A budget too small for the credentials is a standing condition: say so now and then, not every minute.
      const quiet = t0 - this.lastDeferredWarning < 15 * MINUTE;
      if (!quiet) this.lastDeferredWarning = t0;
      log[quiet ? 'debug' : 'warn'](
        { deferred, budget },
        'renewals due beyond this minute’s budget; the most urgent went first',
      );
    }
    return {
      at: now,
      budget,
      due,
      renewed,
      early,
      failed,
      deferred,
      scheduled,
      needsReauth,
    };
  }

  /** Schedule every credential of our broker that has a token but no refresh time. */
  private async scan(now: Date): Promise<number> {
    const all = await this.options.credentials.list();
    let scheduled = 0;
    let active = 0;
    for (const c of all) {
      if (c.broker !== this.broker || c.state !== 'ok' || !c.tokenExpiresAt) continue;
      active++;
      if (c.nextRefreshAt) continue;
      const parkedAt = this.parked.get(c.id);
      if (parkedAt !== undefined && parkedAt === c.tokenExpiresAt.getTime()) continue;
      this.parked.delete(c.id);
      await this.options.credentials.setNextRefresh(c.id, this.nextRefreshFor(c.tokenExpiresAt, now));
      scheduled++;
    }
    // Each token is renewed about once per lifetime less the margin and half the jitter.
    const perToken = Math.max(MINUTE, this.lifetimeMs - this.marginMs - this.jitterMs / 2);
    const needed = (active * MINUTE) / perToken;
    if (needed > this.perMinute && !this.warnedCapacity) {
      this.warnedCapacity = true;
      this.options.log.warn(
        { credentials: active, neededPerMinute: Math.ceil(needed), budgetPerMinute: this.perMinute },
        'the renewal budget cannot keep every token renewed; raise it (more egress IPs) or expect logins',
      );
    } else if (needed <= this.perMinute) {
      this.warnedCapacity = false;
    }
    if (scheduled > 0)
      this.options.log.info({ scheduled }, 'token refreshes scheduled for newly linked credentials');
    return scheduled;
  }

  private async renewOne(
    credential: RefreshCredential,
    now: Date,
  ): Promise<'renewed' | 'retry' | 'needs_reauth' | 'left'> {
    const { credentials, log } = this.options;
    let result: Awaited<ReturnType<RenewToken>>;
    try {
      result = await this.options.renew(credential.id);
    } catch (error) {
      // A bug in the renewal path must not end the run for every other credential.
      log.error({ err: error, credentialId: credential.id }, 'token renewal threw');
      result = {
        ok: false,
        error: { kind: 'unavailable', reason: 'Internal', message: String(error), retryable: true },
      };
    }
    if (result.ok) {
      const expiresAt = result.value.expiresAt;
      this.knownExpiry.set(credential.id, expiresAt.getTime());
      this.failures.delete(credential.id);
      const lifetime = expiresAt.getTime() - now.getTime();
      if (lifetime > this.marginMs) this.lifetimeMs = lifetime;
      await credentials.setNextRefresh(credential.id, this.nextRefreshFor(expiresAt, now));
      return 'renewed';
    }
    const error = result.error;
    if (error.reason === 'NeedsReauth' || error.reason === 'CredentialLocked') {
      // The adapter has already recorded this state and told the owner; nothing here can fix it.
      this.failures.delete(credential.id);
      this.parked.set(credential.id, credential.tokenExpiresAt?.getTime() ?? null);
      await credentials.setNextRefresh(credential.id, null);
      log.warn(
        { credentialId: credential.id, reason: error.reason },
        'token not renewed: the credential needs its owner',
      );
      return 'left';
    }
    const failures = (this.failures.get(credential.id) ?? 0) + 1;
    this.failures.set(credential.id, failures);
    const backoff = Math.min(this.retryMaxMs, this.retryInitialMs * 2 ** (failures - 1));
    const retryAt = now.getTime() + Math.max(backoff, error.retryAfterMs ?? 0);
    const expiry = this.expiryOf(credential);
    const reason = `${error.reason}: ${error.message}`;
    if (expiry === null || retryAt >= expiry) {
      await this.giveUp(credential, reason, failures);
      return 'needs_reauth';
    }
    log.warn(
      {
        credentialId: credential.id,
        failures,
        retryAt: new Date(retryAt).toISOString(),
        reason: error.reason,
      },
      'token renewal failed; retrying before the token expires',
    );
    await credentials.setNextRefresh(credential.id, new Date(retryAt));
    return 'retry';
  }

  /** The token will lapse before another try: mark the credential and tell its owner, once. */
  private async giveUp(credential: RefreshCredential, reason: string, failures: number): Promise<void> {
    const { credentials, audit, users, notifier, log } = this.options;
    this.failures.delete(credential.id);
    await credentials.setNextRefresh(credential.id, null);
    // Someone else (the adapter, another run) may have moved it already, and told the owner then.
    const current = await credentials.get(credential.id);
    if (current?.state !== 'ok') return;
    const stateReason = `renewal_failed: ${reason}`;
    await credentials.setState(credential.id, 'needs_reauth', stateReason);
    await audit?.record({
      actor: 'job:token-refresh',
      action: 'credential.needs_reauth',
      subject: `credential:${credential.id}`,
      details: { reason: stateReason, failures },
    });
    const told = await notifyUser(users, notifier, credential.ownerUserId, (to) => ({
      type: 'credential_state',
      to,
      credentialLabel: credential.label,
      state: 'needs_reauth',
      reason: `the token could not be renewed (${reason}) and expires soon`,
      hint: 'Run /link to authorize tradecast again.',
    }));
    log.warn(
      { credentialId: credential.id, failures, reason: stateReason, told },
      'token renewal kept failing; credential needs re-authorization, owner told',
    );
  }

  private expiryOf(c: RefreshCredential): number | null {
    const stored = c.tokenExpiresAt?.getTime() ?? null;
    const known = this.knownExpiry.get(c.id) ?? null;
    if (stored === null) return known;
    return known === null ? stored : Math.max(stored, known);
  }

  /** Renewals allowed this minute: the per-minute share, within what is left of the rolling hour. */
  private allowance(t0: number): number {
    const minute = Math.floor(t0 / MINUTE);
    let lastHour = 0;
    for (const [m, n] of this.attemptsByMinute) {
      if (m <= minute - 60) this.attemptsByMinute.delete(m);
      else if (m !== minute) lastHour += n;
    }
    const thisMinute = this.attemptsByMinute.get(minute) ?? 0;
    return Math.max(
      0,
      Math.min(this.perMinute - thisMinute, this.options.renewalsPerHour - lastHour - thisMinute),
    );
  }

  private countAttempt(t0: number): void {
    const minute = Math.floor(t0 / MINUTE);
    this.attemptsByMinute.set(minute, (this.attemptsByMinute.get(minute) ?? 0) + 1);
  }
}
