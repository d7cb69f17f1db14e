/**
 * One venue call for one credential, with every policy applied in order: refuse when the
 * credential is locked or cooling down; take a token; wait for the credential's budget by
 * priority; send over the credential's socket (REST when there is none); wait out penalty tickets
 * and resend with the ticket; on 401 renew once and retry once; on 429 cool the credential down.
 *
 * Mutations are never resent once they may have reached the venue: a timeout or a dropped socket
 * after sending is `outcome_unknown`. Queries that lose their socket are retried over REST.
 */
import type { Result } from '../../domain/result.js';
import { err, ok } from '../../domain/result.js';
import type { BrokerError } from '../errors.js';
import { outcomeUnknown } from '../errors.js';
import { coolingDown, needsReauth, translateFailure } from './errors.js';
import type { CredentialHealth } from './health.js';
import type { Budgets } from './limits.js';
import type { PenaltyPolicy } from './penalties.js';
import { penalized, sendThroughPenalties, withTicket } from './penalties.js';
import type { SocketPool } from './pool.js';
import type { RestTransport, TransportAnswer, VenueRequest } from './rest.js';
import type { AccessToken, TokenManager } from './tokens.js';
import type { Logger, Priority } from './types.js';

export interface CallSpec {
  /** Changes orders or positions: never resent after it may have been received. */
  readonly mutation: boolean;
  readonly priority: Priority;
}

export interface ClientDeps {
  readonly rest: RestTransport;
  readonly pool: SocketPool;
  readonly tokens: TokenManager;
  readonly budgets: Budgets;
  readonly health: CredentialHealth;
  readonly penalties: PenaltyPolicy;
  readonly log: Logger;
  readonly requestTimeoutMs: number;
}

/** How one call reaches the venue: a query that lost its socket stays on REST for its resends. */
interface Route {
  restOnly: boolean;
}

/** Counters of what was sent, for tests and metrics. */
export interface ClientStats {
  ws: number;
  rest: number;
  restFallbacks: number;
}

export class TradovateClient {
  readonly stats: ClientStats = { ws: 0, rest: 0, restFallbacks: 0 };

  constructor(private readonly deps: ClientDeps) {}

  /** Send one request and return the 2xx body, or the port error. */
  async call(
    credentialId: string,
    request: VenueRequest,
    spec: CallSpec,
  ): Promise<Result<unknown, BrokerError>> {
    const { health, tokens, log } = this.deps;
    const refusal = health.refusal(credentialId);
    if (refusal) return err(refusal);
    let token = tokens.fresh(credentialId);
    if (!token) {
      const first = await tokens.get(credentialId);
      if (!first.ok) return first;
      token = first.value;
    }

    for (let authAttempt = 0; ; authAttempt++) {
      const route: Route = { restOnly: false };
      const current = token;
      const first = await this.attempt(credentialId, current, request, spec, route);
      const sent =
        first.ok && penalized(first.value)
          ? await sendThroughPenalties(
              this.deps.penalties,
              credentialId,
              request.endpoint,
              (ticket) =>
                this.attempt(
                  credentialId,
                  current,
                  ticket ? withTicket(request, ticket) : request,
                  spec,
                  route,
                ),
              first,
            )
          : first;
      if (!sent.ok) return sent;
      const answer = sent.value;
      if (answer.kind === 'failed') {
        return err(
          translateFailure(
            { kind: answer.failure, sent: answer.sent, ...(answer.detail ? { detail: answer.detail } : {}) },
            { mutation: spec.mutation, endpoint: request.endpoint },
          ),
        );
      }

      const { status } = answer;
      if (status >= 200 && status < 300) return ok(answer.body);
      if (status === 401) {
        // The socket was authorized with the refused token; the next one uses the renewed token.
        this.deps.pool.discard(credentialId, 'token refused');
        if (authAttempt > 0) {
          health.markNeedsReauth(credentialId, `HTTP 401 on ${request.endpoint} after renewal`, token.token);
          return err(needsReauth(`HTTP 401 on ${request.endpoint} after renewal`));
        }
        log.info({ credentialId, endpoint: request.endpoint }, 'token refused; renewing once');
        const renewed = await tokens.afterRejection(credentialId, token.token);
        if (!renewed.ok) return renewed;
        token = renewed.value;
        continue;
      }
      if (status === 429 || status === 423) {
        const ms = this.deps.budgets.limits.cooldownMs;
        health.coolDown(credentialId, ms, `HTTP ${status} on ${request.endpoint}`);
        return err(
          spec.mutation
            ? outcomeUnknown(
                'RateLimited',
                `${request.endpoint}: HTTP ${status} after sending; the request may have been executed`,
              )
            : coolingDown(ms, `HTTP ${status} on ${request.endpoint}`),
        );
      }
      return err(
        translateFailure(
          { kind: 'http', status, text: answer.text || stringBody(answer.body) },
          { mutation: spec.mutation, endpoint: request.endpoint },
        ),
      );
    }
  }

  /** One sending of the request: wait for the budget, then the socket (or REST). */
  private async attempt(
    credentialId: string,
    token: AccessToken,
    request: VenueRequest,
    spec: CallSpec,
    route: Route,
  ): Promise<Result<TransportAnswer, BrokerError>> {
    for (;;) {
      const admitted = await this.deps.budgets.acquire(credentialId, spec.priority);
      if (!admitted.ok) return admitted;
      const again = this.deps.health.refusal(credentialId);
      if (again) return err(again);
      const r = await this.send(credentialId, token, request, spec, route.restOnly);
      if (r.retryOverRest) {
        route.restOnly = true;
        this.stats.restFallbacks++;
        continue;
      }
      return ok(r.answer);
    }
  }

  private async send(
    credentialId: string,
    token: AccessToken,
    request: VenueRequest,
    spec: CallSpec,
    restOnly: boolean,
  ): Promise<{ answer: TransportAnswer; retryOverRest: boolean }> {
    const timeout = this.deps.requestTimeoutMs;
    if (!restOnly && this.deps.pool.enabled) {
      // An open socket is used as it is; only a missing one is waited for.
      let socket = this.deps.pool.ready(credentialId);
      if (!socket) {
        const acquired = await this.deps.pool.acquire(credentialId, token.token);
        if (acquired.kind === 'refused') return { answer: acquired.answer, retryOverRest: false };
        if (acquired.kind === 'socket') socket = acquired.socket;
      }
      if (socket) {
        this.stats.ws++;
        const answer = await socket.request(request, timeout);
        if (answer.kind === 'failed') {
          if (!answer.sent) {
            // Never left the process: REST is as safe for a mutation as for a query.
            this.stats.restFallbacks++;
            return this.viaRest(request, token, timeout);
          }
          if (!spec.mutation) {
            this.deps.log.debug(
              { credentialId, endpoint: request.endpoint, failure: answer.failure },
              'query lost on the socket; retrying over REST',
            );
            return { answer, retryOverRest: true };
          }
          this.deps.log.warn(
            { credentialId, endpoint: request.endpoint, failure: answer.failure },
            'mutation lost on the socket after sending; outcome unknown',
          );
        }
        return { answer, retryOverRest: false };
      }
    }
    return this.viaRest(request, token, timeout);
  }

  private async viaRest(request: VenueRequest, token: AccessToken, timeout: number) {
    this.stats.rest++;
    return { answer: await this.deps.rest.send(request, token.token, timeout), retryOverRest: false };
  }
}

function stringBody(body: unknown): string {
  if (typeof body === 'string') return body;
  if (body == null) return '';
  try {
    return JSON.stringify(body).slice(0, 300);
  } catch {
    return '';
  }
}
