/**
 * Penalty tickets. An endpoint-level limit answers HTTP 200 with `{p-ticket, p-time, p-captcha}`
 * instead of handling the request; the client waits `p-time` seconds and resends the identical
 * request with the ticket added. `p-captcha` cannot be satisfied by a third-party app, so the
 * credential is locked and nothing retries into it.
 */
import type { Result } from '../../domain/result.js';
import { err } from '../../domain/result.js';
import type { BrokerError } from '../errors.js';
import { rateLimited } from '../errors.js';
import { credentialLocked } from './errors.js';
import type { CredentialHealth } from './health.js';
import { namesPenalty, parsePenalty } from './parse.js';
import type { TransportAnswer, VenueRequest } from './rest.js';
import type { Clock, Logger } from './types.js';

export interface PenaltyPolicy {
  readonly clock: Clock;
  readonly health: CredentialHealth;
  readonly log: Logger;
  /** Longest `p-time` waited out, ms. */
  readonly maxWaitMs: number;
  /** Resends with a ticket per request. */
  readonly maxRetries: number;
}

/** The same request with the ticket in its JSON body. */
export function withTicket(request: VenueRequest, ticket: string): VenueRequest {
  return { ...request, body: { ...(request.body ?? {}), 'p-ticket': ticket } };
}

/** The answer may be a penalty ticket: a 2xx whose body names one (cheap; no parsing). */
export function penalized(answer: TransportAnswer): answer is Extract<TransportAnswer, { kind: 'response' }> {
  return (
    answer.kind === 'response' && answer.status >= 200 && answer.status < 300 && namesPenalty(answer.body)
  );
}

/**
 * Run `attempt` (which sends the request, with the ticket when one is given) until the answer is
 * not a penalty. Returns the last answer, or why the request was given up before being handled.
 * `first` is the answer of a first attempt the caller already made without a ticket.
 */
export async function sendThroughPenalties(
  policy: PenaltyPolicy,
  credentialId: string,
  endpoint: string,
  attempt: (ticket: string | null) => Promise<Result<TransportAnswer, BrokerError>>,
  first?: Result<TransportAnswer, BrokerError>,
): Promise<Result<TransportAnswer, BrokerError>> {
  let ticket: string | null = null;
  for (let resends = 0; ; resends++) {
    const r = resends === 0 && first ? first : await attempt(ticket);
    if (!r.ok) return r;
    const answer = r.value;
    if (!penalized(answer)) return r;
    const penalty = parsePenalty(answer.body);
    if (!penalty) return r;
    if (penalty.captcha) {
      policy.health.lock(credentialId, `p-captcha on ${endpoint}`);
      return err(credentialLocked(`p-captcha on ${endpoint}`));
    }
    const waitMs = penalty.waitSeconds * 1000;
    if (resends >= policy.maxRetries || waitMs > policy.maxWaitMs || !penalty.ticket) {
      policy.log.warn(
        { credentialId, endpoint, waitMs, resends },
        'penalty not waited out; request not handled',
      );
      return err(
        rateLimited(
          `Tradovate penalty on ${endpoint}${penalty.message ? `: ${penalty.message}` : ''}`,
          waitMs,
        ),
      );
    }
    policy.log.info(
      { credentialId, endpoint, waitMs },
      'penalty ticket: waiting, then resending with the ticket',
    );
    await policy.clock.sleep(waitMs);
    ticket = penalty.ticket;
  }
}
