/**
 * Access tokens, OAuth first: the in-memory cache, then the stored (OAuth) token, then a renewal
 * of a token that is close to expiry, then the OAuth refresh-token grant, and only as a last
 * resort an API-access login (which opens a new session and risks captcha penalties). Expiry
 * always comes from the venue's answer. One acquisition per credential runs at a time; concurrent
 * callers share it, so a valid token never leads to a second session.
 */
import type { Result } from '../../domain/result.js';
import { err, ok } from '../../domain/result.js';
import type { BrokerError } from '../errors.js';
import { unavailable } from '../errors.js';
import { needsReauth, translateFailure } from './errors.js';
import type { CredentialHealth } from './health.js';
import type { Budgets } from './limits.js';
import type { OAuthTokenAnswer } from './parse.js';
import { parseAccessTokenResponse, parseOAuthTokenResponse } from './parse.js';
import type { PenaltyPolicy } from './penalties.js';
import { sendThroughPenalties, withTicket } from './penalties.js';
import type { FetchLike, RestTransport, TransportAnswer, VenueRequest } from './rest.js';
import { decodeBody } from './rest.js';
import type { Clock, CredentialStore, Logger, TokenSource, TradovateSecret } from './types.js';

/** A usable access token. */
export interface AccessToken {
  readonly token: string;
  /** Epoch ms. */
  readonly expiresAt: number;
  readonly source: TokenSource;
  readonly userId: number | null;
}

/** The OAuth application, when the refresh-token grant should be tried before a login. */
export interface OAuthClient {
  readonly tokenUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
}

export interface TokenOptions {
  /** Renew a token this long before it expires, ms (default 15 min). */
  readonly renewMarginMs: number;
  /** OAuth application for the refresh-token grant. */
  readonly oauth?: OAuthClient;
}

export const DEFAULT_TOKEN_OPTIONS: TokenOptions = { renewMarginMs: 15 * 60_000 };

// A token this close to expiry is not worth sending: it could lapse in flight.
const MIN_VALIDITY_MS = 30_000;

const SOURCE_MESSAGES: Record<TokenSource, string> = {
  cache: 'token from cache',
  stored: 'token from stored OAuth token',
  renewed: 'token renewed without a new session',
  refreshed: 'token from OAuth refresh grant',
  login: 'token from API-access login (last resort)',
};

export interface TokenManagerDeps {
  readonly store: CredentialStore;
  readonly rest: RestTransport;
  readonly budgets: Budgets;
  readonly health: CredentialHealth;
  readonly penalties: PenaltyPolicy;
  readonly clock: Clock;
  readonly log: Logger;
  readonly options: TokenOptions;
  readonly authTimeoutMs: number;
  readonly fetch?: FetchLike;
}

type Mode =
  | { readonly kind: 'normal' }
  | { readonly kind: 'renew' }
  | { readonly kind: 'refused'; readonly token: string };

interface Candidate {
  readonly token: string;
  readonly expiresAt: number;
  readonly origin: 'cache' | 'stored';
  readonly userId: number | null;
}

type RenewOutcome =
  | { readonly kind: 'token'; readonly token: AccessToken }
  | { readonly kind: 'dead'; readonly why: string }
  | { readonly kind: 'error'; readonly error: BrokerError };

export class TokenManager {
  private readonly cache = new Map<string, AccessToken>();
  private readonly inflight = new Map<string, Promise<Result<AccessToken, BrokerError>>>();

  constructor(private readonly deps: TokenManagerDeps) {}

  /** A token for a request: from the cache when fresh, otherwise acquired (shared by concurrent callers). */
  get(credentialId: string): Promise<Result<AccessToken, BrokerError>> {
    const cached = this.fresh(credentialId);
    if (cached) return Promise.resolve(ok({ ...cached, source: 'cache' }));
    return this.single(credentialId, { kind: 'normal' });
  }

  /**
   * The cached token when it is fresh enough to send, without waiting; null when one must be
   * acquired with {@link get}.
   */
  fresh(credentialId: string): AccessToken | null {
    const cached = this.cache.get(credentialId);
    if (!cached || cached.expiresAt - this.deps.clock.now() <= this.deps.options.renewMarginMs) return null;
    this.deps.log.debug({ credentialId, source: 'cache' }, SOURCE_MESSAGES.cache);
    return cached;
  }

  /** The venue refused `token` (HTTP 401): renew it once, or pick up a newer token another caller got. */
  afterRejection(credentialId: string, token: string): Promise<Result<AccessToken, BrokerError>> {
    const cached = this.cache.get(credentialId);
    if (cached && cached.token !== token && cached.expiresAt - this.deps.clock.now() > MIN_VALIDITY_MS) {
      return Promise.resolve(ok({ ...cached, source: 'cache' }));
    }
    if (cached?.token === token) this.cache.delete(credentialId);
    return this.replace(credentialId, token);
  }

  private async replace(credentialId: string, token: string): Promise<Result<AccessToken, BrokerError>> {
    // An acquisition already running may have been started before the refusal and hand back the
    // very token that was refused; only a different token answers the refusal.
    const running = this.inflight.get(credentialId);
    if (running) {
      const r = await running;
      if (!r.ok || r.value.token !== token) return r;
      if (this.cache.get(credentialId)?.token === token) this.cache.delete(credentialId);
    }
    return this.single(credentialId, { kind: 'refused', token });
  }

  /** Renew now, whatever the margin says (the token refresh job). */
  renew(credentialId: string): Promise<Result<AccessToken, BrokerError>> {
    return this.single(credentialId, { kind: 'renew' });
  }

  /** The Tradovate user id behind the credential's current token, when the venue told us. */
  userId(credentialId: string): number | null {
    return this.cache.get(credentialId)?.userId ?? null;
  }

  /** Forget the cached token (after re-linking). */
  invalidate(credentialId: string): void {
    this.cache.delete(credentialId);
  }

  private single(credentialId: string, mode: Mode): Promise<Result<AccessToken, BrokerError>> {
    const running = this.inflight.get(credentialId);
    if (running) return running;
    const p = this.acquire(credentialId, mode).finally(() => this.inflight.delete(credentialId));
    this.inflight.set(credentialId, p);
    return p;
  }

  private async acquire(credentialId: string, mode: Mode): Promise<Result<AccessToken, BrokerError>> {
    const { clock, health, log } = this.deps;
    let secret: TradovateSecret;
    try {
      secret = await this.deps.store.read(credentialId);
    } catch (e) {
      log.error(
        { credentialId, err: e instanceof Error ? e.message : String(e) },
        'credential store read failed',
      );
      return err(unavailable('CredentialStore', 'could not read the credential'));
    }
    const now = clock.now();
    const refused = mode.kind === 'refused' ? mode.token : health.refusedToken(credentialId);
    const candidates = this.candidates(credentialId, secret).filter((c) => c.token !== refused);
    const best = candidates.sort((a, b) => b.expiresAt - a.expiresAt)[0] ?? null;
    const margin = this.deps.options.renewMarginMs;

    if (
      health.state(credentialId) === 'needs_reauth' &&
      !best &&
      !hasLogin(secret) &&
      !this.canRefresh(secret)
    ) {
      return err(needsReauth('no new token since the last refusal'));
    }

    // A different, valid token than the refused one: someone already replaced it.
    if (mode.kind === 'refused' && best && best.expiresAt - now > MIN_VALIDITY_MS)
      return ok(this.serve(credentialId, best));
    if (mode.kind === 'normal' && best && best.expiresAt - now > margin)
      return ok(this.serve(credentialId, best));

    const target =
      mode.kind === 'refused'
        ? { token: mode.token, expiresAt: now + MIN_VALIDITY_MS + 1, userId: best?.userId ?? null }
        : best && best.expiresAt - now > MIN_VALIDITY_MS
          ? best
          : null;

    if (target) {
      const renewed = await this.renewWith(credentialId, secret, target.token, target.userId);
      if (renewed.kind === 'token') return ok(renewed.token);
      if (renewed.kind === 'error') {
        // Renewal impossible right now (budget, outage): a still-valid token keeps working.
        if (mode.kind === 'normal' && best && best.expiresAt - now > MIN_VALIDITY_MS) {
          log.warn(
            { credentialId, reason: renewed.error.reason },
            'renewal failed; using the current token until it expires',
          );
          return ok(this.serve(credentialId, best));
        }
        return err(renewed.error);
      }
      log.warn({ credentialId, why: renewed.why }, 'token cannot be renewed');
    }

    if (this.canRefresh(secret)) {
      const refreshed = await this.refresh(credentialId, secret);
      if (refreshed.ok) return refreshed;
    }

    if (hasLogin(secret)) return this.login(credentialId, secret);

    health.markNeedsReauth(
      credentialId,
      'no valid token and no login fallback',
      refused ?? best?.token ?? null,
    );
    return err(needsReauth('no valid token and no login fallback'));
  }

  private candidates(credentialId: string, secret: TradovateSecret): Candidate[] {
    const out: Candidate[] = [];
    const cached = this.cache.get(credentialId);
    if (cached)
      out.push({ token: cached.token, expiresAt: cached.expiresAt, origin: 'cache', userId: cached.userId });
    if (secret.accessToken && secret.expiresAt) {
      const expiresAt = Date.parse(secret.expiresAt);
      if (Number.isFinite(expiresAt) && secret.accessToken !== cached?.token) {
        out.push({ token: secret.accessToken, expiresAt, origin: 'stored', userId: secret.userId ?? null });
      }
    }
    return out;
  }

  private serve(credentialId: string, c: Candidate): AccessToken {
    const token: AccessToken = { token: c.token, expiresAt: c.expiresAt, source: c.origin, userId: c.userId };
    this.remember(credentialId, token);
    return token;
  }

  private remember(credentialId: string, token: AccessToken): void {
    this.cache.set(credentialId, token);
    const level = token.source === 'login' ? 'warn' : token.source === 'cache' ? 'debug' : 'info';
    this.deps.log[level](
      { credentialId, source: token.source, expiresAt: new Date(token.expiresAt).toISOString() },
      SOURCE_MESSAGES[token.source],
    );
    if (this.deps.health.state(credentialId) === 'needs_reauth' && token.source !== 'cache') {
      this.deps.health.recover(credentialId, `new token (${token.source})`);
    }
  }

  private canRefresh(secret: TradovateSecret): boolean {
    return Boolean(this.deps.options.oauth && secret.refreshToken);
  }

  private async renewWith(
    credentialId: string,
    secret: TradovateSecret,
    token: string,
    userId: number | null,
  ): Promise<RenewOutcome> {
    const answer = await this.authCall(
      credentialId,
      'renewaccesstoken',
      { endpoint: 'auth/renewaccesstoken' },
      token,
    );
    if (!answer.ok) return { kind: 'error', error: answer.error };
    const a = answer.value;
    if (a.kind === 'failed') {
      return {
        kind: 'error',
        error: translateFailure(
          { kind: a.failure, sent: a.sent },
          { mutation: false, endpoint: 'auth/renewaccesstoken' },
        ),
      };
    }
    if (a.status === 401 || a.status === 403) return { kind: 'dead', why: `HTTP ${a.status}` };
    if (a.status !== 200) {
      return {
        kind: 'error',
        error: translateFailure(
          { kind: 'http', status: a.status, text: a.text },
          { mutation: false, endpoint: 'auth/renewaccesstoken' },
        ),
      };
    }
    const parsed = parseAccessTokenResponse(a.body);
    if (!parsed.ok) return { kind: 'error', error: unavailable('UnexpectedPayload', parsed.error.message) };
    const v = parsed.value;
    if (v.kind === 'error') return { kind: 'dead', why: v.text };
    if (v.kind === 'penalty') return { kind: 'error', error: unavailable('Penalty', 'renewal penalized') };
    const fresh: AccessToken = {
      token: v.accessToken,
      expiresAt: v.expiresAt.getTime(),
      source: 'renewed',
      userId: v.userId ?? userId,
    };
    await this.persist(
      credentialId,
      {
        ...secret,
        accessToken: fresh.token,
        expiresAt: v.expiresAt.toISOString(),
        ...(fresh.userId != null ? { userId: fresh.userId } : {}),
      },
      fresh,
    );
    return { kind: 'token', token: fresh };
  }

  private async refresh(
    credentialId: string,
    secret: TradovateSecret,
  ): Promise<Result<AccessToken, BrokerError>> {
    const oauth = this.deps.options.oauth!;
    const r = await refreshOAuthToken({
      ...oauth,
      refreshToken: secret.refreshToken!,
      now: this.deps.clock.now(),
      timeoutMs: this.deps.authTimeoutMs,
      ...(this.deps.fetch ? { fetch: this.deps.fetch } : {}),
    });
    if (!r.ok) {
      this.deps.log.warn({ credentialId, error: r.error.error }, 'OAuth refresh grant refused');
      return err(unavailable('RefreshFailed', r.error.error));
    }
    const t = r.value;
    const fresh: AccessToken = {
      token: t.accessToken,
      expiresAt: t.expiresAt.getTime(),
      source: 'refreshed',
      userId: secret.userId ?? null,
    };
    await this.persist(
      credentialId,
      {
        ...secret,
        accessToken: t.accessToken,
        expiresAt: t.expiresAt.toISOString(),
        ...(t.refreshToken ? { refreshToken: t.refreshToken } : {}),
      },
      fresh,
    );
    return ok(fresh);
  }

  private async login(
    credentialId: string,
    secret: TradovateSecret,
  ): Promise<Result<AccessToken, BrokerError>> {
    const body: Record<string, unknown> = { name: secret.name, password: secret.password };
    for (const key of ['appId', 'appVersion', 'cid', 'sec', 'deviceId'] as const) {
      if (secret[key] !== undefined) body[key] = secret[key];
    }
    const answer = await this.authCall(
      credentialId,
      'accesstokenrequest',
      { endpoint: 'auth/accesstokenrequest', body },
      null,
    );
    if (!answer.ok) return answer;
    const a = answer.value;
    if (a.kind === 'failed') {
      return err(
        translateFailure(
          { kind: a.failure, sent: a.sent },
          { mutation: false, endpoint: 'auth/accesstokenrequest' },
        ),
      );
    }
    if (a.status !== 200) {
      if (a.status === 401 || a.status === 403) {
        this.deps.health.markNeedsReauth(credentialId, `login refused (HTTP ${a.status})`, null);
        return err(needsReauth(`login refused (HTTP ${a.status})`));
      }
      return err(
        translateFailure(
          { kind: 'http', status: a.status, text: a.text },
          { mutation: false, endpoint: 'auth/accesstokenrequest' },
        ),
      );
    }
    const parsed = parseAccessTokenResponse(a.body);
    if (!parsed.ok) return err(unavailable('UnexpectedPayload', parsed.error.message));
    const v = parsed.value;
    if (v.kind === 'error') {
      this.deps.health.markNeedsReauth(credentialId, `login refused: ${v.text}`, null);
      return err(needsReauth(`login refused: ${v.text}`));
    }
    if (v.kind === 'penalty') return err(unavailable('Penalty', 'login penalized'));
    const fresh: AccessToken = {
      token: v.accessToken,
      expiresAt: v.expiresAt.getTime(),
      source: 'login',
      userId: v.userId ?? secret.userId ?? null,
    };
    await this.persist(
      credentialId,
      {
        ...secret,
        accessToken: fresh.token,
        expiresAt: v.expiresAt.toISOString(),
        ...(fresh.userId != null ? { userId: fresh.userId } : {}),
      },
      fresh,
    );
    return ok(fresh);
  }

  /** One auth endpoint call: the endpoint's process budget, then the request, penalties waited out. */
  private authCall(
    credentialId: string,
    endpoint: 'renewaccesstoken' | 'accesstokenrequest',
    request: VenueRequest,
    token: string | null,
  ): Promise<Result<TransportAnswer, BrokerError>> {
    return sendThroughPenalties(this.deps.penalties, credentialId, request.endpoint, async (ticket) => {
      const refusal = this.deps.health.refusal(credentialId);
      if (refusal) return err(refusal);
      const admitted = await this.deps.budgets.acquireAuth(endpoint, this.deps.budgets.limits.maxWaitMs);
      if (!admitted.ok) return admitted;
      const req = ticket ? withTicket(request, ticket) : request;
      return ok(await this.deps.rest.send(req, token, this.deps.authTimeoutMs));
    });
  }

  private async persist(credentialId: string, secret: TradovateSecret, token: AccessToken): Promise<void> {
    this.remember(credentialId, token);
    try {
      await this.deps.store.write(credentialId, secret, {
        tokenExpiresAt: new Date(token.expiresAt),
        tokenSource: token.source as 'renewed' | 'refreshed' | 'login',
      });
    } catch (e) {
      // The token still works from the cache; the next acquisition retries the write.
      this.deps.log.error(
        { credentialId, err: e instanceof Error ? e.message : String(e) },
        'credential store write failed',
      );
    }
  }
}

function hasLogin(secret: TradovateSecret): boolean {
  return Boolean(secret.name && secret.password);
}

// ---------------------------------------------------------------------------------------------
// OAuth linking flow

/** Tokens from the OAuth token endpoint. */
export interface OAuthTokens {
  readonly accessToken: string;
  readonly expiresAt: Date;
  readonly refreshToken?: string;
  readonly refreshExpiresAt?: Date;
}

/** An OAuth failure: the venue's `error` code (`invalid_grant`, `invalid_token`) or ours (`network`, `http_500`). */
export interface OAuthFailure {
  readonly error: string;
  readonly description?: string;
}

interface OAuthCallCommon {
  /** e.g. `https://live.tradovateapi.com/auth/oauthtoken`. */
  readonly tokenUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly fetch?: FetchLike;
  /** Anchor for `expires_in`, epoch ms (default now). */
  readonly now?: number;
  readonly timeoutMs?: number;
}

/** Exchange an authorization code for tokens (the OAuth callback of the linking flow). */
export function exchangeOAuthCode(
  args: OAuthCallCommon & { readonly redirectUri: string; readonly code: string },
): Promise<Result<OAuthTokens, OAuthFailure>> {
  return oauthTokenCall(args, {
    grant_type: 'authorization_code',
    code: args.code,
    redirect_uri: args.redirectUri,
    client_id: args.clientId,
    client_secret: args.clientSecret,
  });
}

/** Use a refresh token for new tokens; the venue may rotate the refresh token. */
export function refreshOAuthToken(
  args: OAuthCallCommon & { readonly refreshToken: string },
): Promise<Result<OAuthTokens, OAuthFailure>> {
  return oauthTokenCall(args, {
    grant_type: 'refresh_token',
    refresh_token: args.refreshToken,
    client_id: args.clientId,
    client_secret: args.clientSecret,
  });
}

async function oauthTokenCall(
  args: OAuthCallCommon,
  form: Record<string, string>,
): Promise<Result<OAuthTokens, OAuthFailure>> {
  const doFetch = args.fetch ?? ((input: string, init: RequestInit) => fetch(input, init));
  let text: string;
  let status: number;
  try {
    const res = await doFetch(args.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams(form).toString(),
      signal: AbortSignal.timeout(args.timeoutMs ?? 15_000),
    });
    status = res.status;
    text = await res.text();
  } catch (e) {
    return err({ error: 'network', description: e instanceof Error ? e.message : String(e) });
  }
  const body = decodeBody(text);
  const parsed = parseOAuthTokenResponse(body, args.now ?? Date.now());
  if (parsed.ok && parsed.value.kind === 'error') return err(oauthError(parsed.value));
  if (status !== 200) return err({ error: `http_${status}` });
  if (!parsed.ok) return err({ error: 'unexpected_payload', description: parsed.error.message });
  const t = parsed.value as Extract<OAuthTokenAnswer, { kind: 'token' }>;
  return ok({
    accessToken: t.accessToken,
    expiresAt: t.expiresAt,
    ...(t.refreshToken ? { refreshToken: t.refreshToken } : {}),
    ...(t.refreshExpiresAt ? { refreshExpiresAt: t.refreshExpiresAt } : {}),
  });
}

function oauthError(e: Extract<OAuthTokenAnswer, { kind: 'error' }>): OAuthFailure {
  return { error: e.error, ...(e.description ? { description: e.description } : {}) };
}
