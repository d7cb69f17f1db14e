/**
 * Users, sessions and tokens (reference §2). A session starts with a successful
 * `accesstokenrequest` or OAuth code exchange; renewals add tokens to the same session; a user has
 * at most two sessions and a new one closes the oldest, whose tokens then stop working.
 */
import { randomBytes } from 'node:crypto';
import type { Clock, OAuthClientOption, SimUserOption } from './types.js';

export const DEFAULT_TOKEN_LIFETIME_MS = 80 * 60_000;
/** Observed refresh-token lifetime, about 26 hours (reference §2.4). */
export const DEFAULT_REFRESH_LIFETIME_MS = 26 * 3_600_000;
const CODE_LIFETIME_MS = 10 * 60_000;

export const BAD_CREDENTIALS =
  'Incorrect username or password. Please try again, noting that passwords are case-sensitive.';
export const BAD_API_KEY = 'The app is not registered or the API key does not match.';

export interface Session {
  readonly id: string;
  readonly userId: number;
  readonly userName: string;
  readonly source: 'password' | 'oauth';
  readonly createdAt: number;
  closed: boolean;
}

export interface SessionInfo {
  readonly id: string;
  readonly source: 'password' | 'oauth';
  readonly createdAt: Date;
  /** Latest expiry of the session's tokens. */
  readonly expiresAt: Date;
  readonly tokens: number;
}

interface TokenRecord {
  readonly sessionId: string;
  readonly expiresAt: number;
}

interface CodeRecord {
  readonly clientId: string;
  readonly redirectUri: string;
  readonly userId: number;
  readonly expiresAt: number;
}

interface RefreshRecord {
  readonly clientId: string;
  readonly sessionId: string;
  readonly expiresAt: number;
}

export type SessionClosedListener = (session: Session, reason: string) => void;

export class AuthService {
  private readonly usersByName = new Map<string, SimUserOption>();
  private readonly usersById = new Map<number, SimUserOption>();
  private readonly accountOwner = new Map<number, SimUserOption>();
  private readonly sessionsById = new Map<string, Session>();
  private readonly tokens = new Map<string, TokenRecord>();
  private readonly codes = new Map<string, CodeRecord>();
  private readonly refreshTokens = new Map<string, RefreshRecord>();
  private readonly listeners: SessionClosedListener[] = [];
  private sessionSeq = 0;

  constructor(
    private readonly clock: Clock,
    users: readonly SimUserOption[],
    readonly oauthClients: readonly OAuthClientOption[],
    readonly tokenLifetimeMs: number,
    private readonly refreshLifetimeMs: number,
    private readonly maxSessionsPerUser: number,
  ) {
    for (const u of users) {
      this.usersByName.set(u.name, u);
      this.usersById.set(u.userId, u);
      for (const a of u.accounts) this.accountOwner.set(a.id, u);
    }
  }

  get users(): readonly SimUserOption[] {
    return [...this.usersById.values()];
  }

  userByName(name: string): SimUserOption | undefined {
    return this.usersByName.get(name);
  }

  userById(id: number): SimUserOption | undefined {
    return this.usersById.get(id);
  }

  ownerOfAccount(accountId: number): SimUserOption | undefined {
    return this.accountOwner.get(accountId);
  }

  onSessionClosed(listener: SessionClosedListener): void {
    this.listeners.push(listener);
  }

  /** The open session a token belongs to, or null when the token is unknown, expired or revoked. */
  resolve(token: string): Session | null {
    const record = this.tokens.get(token);
    if (!record || record.expiresAt <= this.clock.now()) return null;
    const session = this.sessionsById.get(record.sessionId);
    return session && !session.closed ? session : null;
  }

  session(id: string): Session | null {
    const s = this.sessionsById.get(id);
    return s && !s.closed ? s : null;
  }

  /** `auth/accesstokenrequest`: a new session, or `errorText`. */
  accessTokenRequest(body: Record<string, unknown>): Record<string, unknown> {
    const name = typeof body.name === 'string' ? body.name : '';
    const user = this.usersByName.get(name);
    if (!user || body.password !== user.password) return { errorText: BAD_CREDENTIALS };
    if (
      (user.cid !== undefined && String(body.cid ?? '') !== String(user.cid)) ||
      (user.sec !== undefined && body.sec !== user.sec) ||
      (user.appId !== undefined && body.appId !== user.appId)
    ) {
      return { errorText: BAD_API_KEY };
    }
    const session = this.openSession(user, 'password');
    return this.tokenResponse(user, session);
  }

  /** `auth/renewaccesstoken`: a fresh token in the same session; the old one lives until it expires. */
  renew(session: Session): Record<string, unknown> {
    const user = this.usersById.get(session.userId)!;
    return this.tokenResponse(user, session);
  }

  /** `auth/me`. */
  me(session: Session): Record<string, unknown> {
    const user = this.usersById.get(session.userId)!;
    return {
      userId: user.userId,
      name: user.name,
      fullName: user.name,
      email: user.email ?? `${user.name.toLowerCase()}@example.test`,
      emailVerified: true,
      isTrial: false,
    };
  }

  /**
   * The authorize page's decision: a code for `redirect_uri`, or why the request is refused (shown
   * as a page, never redirected, since an unregistered redirect must not receive anything).
   */
  authorize(
    clientId: string,
    redirectUri: string,
    userName: string,
    password?: string,
  ): { code: string } | { error: string } {
    const refused = this.checkClient(clientId, redirectUri);
    if (refused) return { error: refused };
    const user = this.usersByName.get(userName);
    if (!user || (password !== undefined && password !== user.password)) return { error: BAD_CREDENTIALS };
    const code = randomBytes(18).toString('base64url');
    this.codes.set(code, {
      clientId,
      redirectUri,
      userId: user.userId,
      expiresAt: this.clock.now() + CODE_LIFETIME_MS,
    });
    return { code };
  }

  /** Why an authorize request's client or redirect is refused, or null when both are registered. */
  checkClient(clientId: string, redirectUri: string): string | null {
    const client = this.oauthClients.find((c) => c.clientId === clientId);
    if (!client) return 'Unknown client_id';
    if (!client.redirectUris.includes(redirectUri)) return 'redirect_uri is not registered for this client';
    return null;
  }

  /** `auth/oauthtoken`: authorization_code or refresh_token grants; failures as `error`. */
  oauthToken(body: Record<string, unknown>): Record<string, unknown> {
    const str = (k: string): string => (typeof body[k] === 'string' ? (body[k] as string) : '');
    const grant = str('grant_type');
    const client = this.oauthClients.find((c) => c.clientId === str('client_id'));
    if (grant !== 'authorization_code' && grant !== 'refresh_token') {
      return {
        error: 'unsupported_grant_type',
        error_description: `grant_type ${grant || '(none)'} is not supported`,
      };
    }
    if (!client || client.clientSecret !== str('client_secret')) {
      return { error: 'invalid_client', error_description: 'Unknown client or wrong client_secret' };
    }
    const now = this.clock.now();
    if (grant === 'authorization_code') {
      const code = this.codes.get(str('code'));
      // Codes are single-use whatever the outcome.
      this.codes.delete(str('code'));
      if (!code || code.expiresAt <= now || code.clientId !== client.clientId) {
        return { error: 'invalid_grant', error_description: 'The code is invalid, expired or already used' };
      }
      if (code.redirectUri !== str('redirect_uri')) {
        return {
          error: 'invalid_grant',
          error_description: 'redirect_uri does not match the authorization request',
        };
      }
      const user = this.usersById.get(code.userId)!;
      return this.oauthResponse(client.clientId, this.openSession(user, 'oauth'));
    }
    const refresh = this.refreshTokens.get(str('refresh_token'));
    const session = refresh ? this.session(refresh.sessionId) : null;
    if (!refresh || !session || refresh.expiresAt <= now || refresh.clientId !== client.clientId) {
      return { error: 'invalid_token', error_description: 'The refresh token is invalid or expired' };
    }
    // Refresh tokens rotate: the one just used is spent.
    this.refreshTokens.delete(str('refresh_token'));
    return this.oauthResponse(client.clientId, session);
  }

  /** Open sessions of a user (those with at least one unexpired token), oldest first. */
  sessionsOf(userId: number): Session[] {
    const now = this.clock.now();
    const live = new Set<string>();
    for (const t of this.tokens.values()) if (t.expiresAt > now) live.add(t.sessionId);
    return [...this.sessionsById.values()].filter((s) => s.userId === userId && !s.closed && live.has(s.id));
  }

  describe(session: Session): SessionInfo {
    let expiresAt = 0;
    let count = 0;
    for (const t of this.tokens.values()) {
      if (t.sessionId !== session.id) continue;
      count++;
      expiresAt = Math.max(expiresAt, t.expiresAt);
    }
    return {
      id: session.id,
      source: session.source,
      createdAt: new Date(session.createdAt),
      expiresAt: new Date(expiresAt),
      tokens: count,
    };
  }

  /** Revoke a session: its tokens answer 401 and its sockets are closed. */
  closeSession(session: Session, reason: string): void {
    if (session.closed) return;
    session.closed = true;
    for (const [token, record] of this.tokens) if (record.sessionId === session.id) this.tokens.delete(token);
    for (const [token, record] of this.refreshTokens) {
      if (record.sessionId === session.id) this.refreshTokens.delete(token);
    }
    for (const l of this.listeners) l(session, reason);
  }

  private openSession(user: SimUserOption, source: Session['source']): Session {
    const open = this.sessionsOf(user.userId);
    // Tradovate closes the oldest sessions once a new one would exceed the limit.
    for (const old of open.slice(0, Math.max(0, open.length - this.maxSessionsPerUser + 1))) {
      this.closeSession(old, 'Session limit reached');
    }
    const session: Session = {
      id: `s${++this.sessionSeq}`,
      userId: user.userId,
      userName: user.name,
      source,
      createdAt: this.clock.now(),
      closed: false,
    };
    this.sessionsById.set(session.id, session);
    return session;
  }

  private issueToken(session: Session, kind: 'access' | 'md'): { token: string; expiresAt: number } {
    const now = this.clock.now();
    const expiresAt = now + this.tokenLifetimeMs;
    const token = jwtLike({
      sub: String(session.userId),
      exp: Math.floor(expiresAt / 1000),
      iat: Math.floor(now / 1000),
      sid: session.id,
      kind,
      jti: randomBytes(8).toString('hex'),
    });
    this.tokens.set(token, { sessionId: session.id, expiresAt });
    return { token, expiresAt };
  }

  private tokenResponse(user: SimUserOption, session: Session): Record<string, unknown> {
    const access = this.issueToken(session, 'access');
    const md = this.issueToken(session, 'md');
    return {
      accessToken: access.token,
      mdAccessToken: md.token,
      expirationTime: new Date(access.expiresAt).toISOString(),
      passwordExpirationTime: new Date(this.clock.now() + 365 * 86_400_000).toISOString(),
      userStatus: 'Active',
      userId: user.userId,
      name: user.name,
      hasLive: false,
    };
  }

  private oauthResponse(clientId: string, session: Session): Record<string, unknown> {
    const access = this.issueToken(session, 'access');
    const refresh = randomBytes(24).toString('base64url');
    this.refreshTokens.set(refresh, {
      clientId,
      sessionId: session.id,
      expiresAt: this.clock.now() + this.refreshLifetimeMs,
    });
    return {
      access_token: access.token,
      token_type: 'Bearer',
      expires_in: Math.floor(this.tokenLifetimeMs / 1000),
      refresh_token: refresh,
      refresh_token_expires_in: Math.floor(this.refreshLifetimeMs / 1000),
    };
  }
}

/** Tradovate tokens are JWTs; clients that peek at `sub` or `exp` should find them. */
function jwtLike(payload: Record<string, unknown>): string {
  const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${enc({ alg: 'HS256', typ: 'JWT' })}.${enc(payload)}.${randomBytes(32).toString('base64url')}`;
}
