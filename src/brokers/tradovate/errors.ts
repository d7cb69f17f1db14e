/**
 * Venue failures → the port's error kinds. The one rule that matters: once a mutation may have
 * reached Tradovate, every failure is `outcome_unknown` (settled later by looking the client order
 * id up), never a rejection and never a reason to resend.
 */
import type { BrokerError } from '../errors.js';
import { outcomeUnknown, rateLimited, rejected, unavailable } from '../errors.js';

/** What went wrong with one venue call, before translation. */
export type VenueFailure =
  /** A non-2xx HTTP (or WebSocket `s`) status with its text. */
  | { readonly kind: 'http'; readonly status: number; readonly text: string }
  /** No answer in time. `sent` is false only when the request never left the process. */
  | { readonly kind: 'timeout'; readonly sent: boolean }
  /** The socket closed or the connection broke. */
  | { readonly kind: 'dropped'; readonly sent: boolean; readonly detail?: string }
  /** A 200 answer whose body could not be read. */
  | { readonly kind: 'unexpected_payload'; readonly detail: string }
  /** A logical refusal in a 200 body (`failureReason`/`failureText`, `errorText`). */
  | { readonly kind: 'refused'; readonly reason: string; readonly text: string };

export interface CallContext {
  /** The call changes orders or positions. */
  readonly mutation: boolean;
  readonly endpoint: string;
}

/** Translate one venue failure into the port's vocabulary. */
export function translateFailure(failure: VenueFailure, ctx: CallContext): BrokerError {
  switch (failure.kind) {
    case 'refused':
      return rejected(failure.reason, failure.text);
    case 'timeout':
      if (!failure.sent) return unavailable('Timeout', `${ctx.endpoint}: not sent in time`);
      return ctx.mutation
        ? outcomeUnknown('Timeout', `${ctx.endpoint}: no answer in time; the request may have been executed`)
        : unavailable('Timeout', `${ctx.endpoint}: no answer in time`);
    case 'dropped':
      if (!failure.sent) return unavailable('Disconnected', `${ctx.endpoint}: connection unavailable`);
      return ctx.mutation
        ? outcomeUnknown(
            'Disconnected',
            `${ctx.endpoint}: connection lost after sending; the request may have been executed`,
          )
        : unavailable('Disconnected', `${ctx.endpoint}: connection lost`);
    case 'unexpected_payload':
      return ctx.mutation
        ? outcomeUnknown('UnexpectedPayload', `${ctx.endpoint}: unreadable answer (${failure.detail})`)
        : unavailable('UnexpectedPayload', `${ctx.endpoint}: unreadable answer (${failure.detail})`);
    case 'http':
      return fromStatus(failure.status, failure.text, ctx);
  }
}

function fromStatus(status: number, text: string, ctx: CallContext): BrokerError {
  const detail = text ? `${ctx.endpoint}: HTTP ${status} ${text}` : `${ctx.endpoint}: HTTP ${status}`;
  if (status === 429 || status === 423) {
    // The venue's user-level lockout: a mutation answered this way may still have been counted
    // as executed on the other side of a proxy, so it is settled by lookup like any other unknown.
    return ctx.mutation ? outcomeUnknown('RateLimited', detail) : rateLimited(detail);
  }
  if (status >= 500 || status === 408) {
    return ctx.mutation ? outcomeUnknown('ServerError', detail) : unavailable('ServerError', detail);
  }
  if (status === 401 || status === 403) return unavailable('Unauthorized', detail, false);
  if (status === 404) return rejected('NotFound', detail);
  return rejected(`Http${status}`, detail);
}

/** The credential is locked by a captcha penalty; nothing is sent for it any more. */
export const credentialLocked = (reason: string): BrokerError =>
  unavailable(
    'CredentialLocked',
    `Tradovate requires a captcha for this credential (${reason}); log in on Tradovate, then re-link`,
    false,
  );

/** The credential's tokens are refused and no login fallback works. */
export const needsReauth = (reason: string): BrokerError =>
  unavailable(
    'NeedsReauth',
    `Tradovate refused the credential's token (${reason}); re-link the account`,
    false,
  );

/** A cool-down after a 429 or a penalty too long to wait out. */
export const coolingDown = (retryAfterMs: number, why: string): BrokerError =>
  rateLimited(`credential cooling down: ${why}`, Math.max(0, Math.ceil(retryAfterMs)));
