/**
 * Each credential's standing: locked by a captcha penalty, waiting for re-authorization, or cooling
 * down after a 429. Calls for a credential in any of these states are refused before anything is
 * sent, and state changes are reported once to the owner through `onCredentialState`.
 */
import type { BrokerError } from '../errors.js';
import { coolingDown, credentialLocked } from './errors.js';
import type { Clock, Logger, TradovateCredentialState } from './types.js';

interface Standing {
  state: TradovateCredentialState;
  reason: string;
  /** For `needs_reauth`: the token that was refused, so a newly stored one can lift the state. */
  refusedToken: string | null;
  coolUntil: number;
  coolReason: string;
}

export type CredentialStateListener = (
  credentialId: string,
  state: TradovateCredentialState,
  reason: string,
) => void;

export class CredentialHealth {
  private readonly standings = new Map<string, Standing>();

  constructor(
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly listener?: CredentialStateListener,
  ) {}

  /** Why a call for this credential must not be sent now, or null. `needs_reauth` is left to the token manager. */
  refusal(credentialId: string): BrokerError | null {
    const s = this.standings.get(credentialId);
    if (!s) return null;
    if (s.state === 'locked') return credentialLocked(s.reason);
    const left = s.coolUntil - this.clock.now();
    if (left > 0) return coolingDown(left, s.coolReason);
    return null;
  }

  state(credentialId: string): TradovateCredentialState {
    return this.standings.get(credentialId)?.state ?? 'ok';
  }

  /** The token refused when the credential was marked `needs_reauth`. */
  refusedToken(credentialId: string): string | null {
    return this.standings.get(credentialId)?.refusedToken ?? null;
  }

  /** Milliseconds left of the credential's cool-down, 0 when none. */
  coolingFor(credentialId: string): number {
    const s = this.standings.get(credentialId);
    return s ? Math.max(0, s.coolUntil - this.clock.now()) : 0;
  }

  lock(credentialId: string, reason: string): void {
    const s = this.standing(credentialId);
    if (s.state === 'locked') return;
    s.state = 'locked';
    s.reason = reason;
    this.log.error({ credentialId, reason }, 'credential locked by a captcha penalty; no further calls');
    this.notify(credentialId, 'locked', reason);
  }

  markNeedsReauth(credentialId: string, reason: string, refusedToken: string | null): void {
    const s = this.standing(credentialId);
    if (s.state === 'locked') return;
    s.refusedToken = refusedToken;
    if (s.state === 'needs_reauth') return;
    s.state = 'needs_reauth';
    s.reason = reason;
    this.log.warn({ credentialId, reason }, 'credential needs re-authorization');
    this.notify(credentialId, 'needs_reauth', reason);
  }

  coolDown(credentialId: string, ms: number, reason: string): void {
    const s = this.standing(credentialId);
    const until = this.clock.now() + ms;
    if (until <= s.coolUntil) return;
    s.coolUntil = until;
    s.coolReason = reason;
    this.log.warn({ credentialId, reason, cooldownMs: ms }, 'credential cooling down');
  }

  /** Back to normal: a new token works, or an operator cleared the credential. */
  recover(credentialId: string, reason: string): void {
    const s = this.standings.get(credentialId);
    if (!s || s.state === 'ok') return;
    s.state = 'ok';
    s.reason = '';
    s.refusedToken = null;
    this.log.info({ credentialId, reason }, 'credential usable again');
    this.notify(credentialId, 'ok', reason);
  }

  /** Forget everything about a credential (after re-linking). */
  reset(credentialId: string): void {
    const s = this.standings.get(credentialId);
    this.standings.delete(credentialId);
    if (s && s.state !== 'ok') this.notify(credentialId, 'ok', 'reset');
  }

  private standing(credentialId: string): Standing {
    let s = this.standings.get(credentialId);
    if (!s) {
      s = { state: 'ok', reason: '', refusedToken: null, coolUntil: 0, coolReason: '' };
      this.standings.set(credentialId, s);
    }
    return s;
  }

  private notify(credentialId: string, state: TradovateCredentialState, reason: string): void {
    if (!this.listener) return;
    try {
      this.listener(credentialId, state, reason);
    } catch (e) {
      this.log.error({ credentialId, err: e }, 'credential state listener failed');
    }
  }
}
