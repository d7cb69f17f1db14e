/**
 * The port's error kinds. Venue adapters translate every venue failure into one of these inside
 * their own folder; nothing venue-specific crosses `broker.ts`.
 *
 * - `rejected`: the broker definitively refused the request (invalid price, risk, unknown contract...).
 *   Never retried.
 * - `rate_limited`: the request was NOT sent because the credential's budget or a cool-down forbids it.
 * - `unavailable`: the request was NOT sent: no connection, the credential is locked or needs re-auth.
 * - `outcome_unknown`: the request may have reached the broker (timeout, disconnect, 5xx, 429 after
 *   sending). Never resent blindly: settle it by looking the client order id up.
 */
export type BrokerErrorKind = 'rejected' | 'rate_limited' | 'unavailable' | 'outcome_unknown';

export interface BrokerError {
  readonly kind: BrokerErrorKind;
  /** A sentence for people. */
  readonly message: string;
  /** A stable reason code: the venue's failure reason for rejections (`InvalidPrice`), ours otherwise. */
  readonly reason: string;
  /** Whether the same request may succeed later (true for rate limits and outages). */
  readonly retryable: boolean;
  /** When to try again, for rate limits and cool-downs. */
  readonly retryAfterMs?: number;
}

export const rejected = (reason: string, message: string = reason): BrokerError => ({
  kind: 'rejected',
  reason,
  message,
  retryable: false,
});
export const rateLimited = (message: string, retryAfterMs?: number): BrokerError => ({
  kind: 'rate_limited',
  reason: 'RateLimited',
  message,
  retryable: true,
  ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
});
export const unavailable = (reason: string, message: string, retryable = true): BrokerError => ({
  kind: 'unavailable',
  reason,
  message,
  retryable,
});
export const outcomeUnknown = (reason: string, message: string): BrokerError => ({
  kind: 'outcome_unknown',
  reason,
  message,
  retryable: true,
});
