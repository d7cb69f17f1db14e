/**
 * Bearer tokens of the web server: sign-in links, `/link` URLs, OAuth states and webhook URL tokens.
 * Each is 256 random bits; only its SHA-256 is stored, so a database dump opens nothing.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IssuedLink, LinkIssuer } from '../commands/service.js';
import { type Clock, systemClock } from '../domain/clock.js';
import type { Principal } from '../domain/types.js';
import type { HttpStores } from './ports.js';

/** A fresh random token, URL-safe (43 characters). */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/** The stored form of a token: SHA-256, hex. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * Whether two hex hashes are equal, in time independent of where they differ. Hashing the presented
 * token first also makes its length irrelevant to the comparison.
 */
export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

/** What the tokens look like on the wire, so malformed ones are refused before any lookup. */
export const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

export interface LinkIssuerOptions {
  readonly tokens: Pick<HttpStores['oneTimeTokens'], 'issue' | 'purgeExpired'>;
  /** The server's public base URL, or a function giving it once the server listens. */
  readonly publicUrl: string | (() => string);
  /** Whether Tradovate OAuth linking is configured; `/link` says it is not when false. */
  readonly oauthEnabled: boolean;
  readonly clock?: Clock;
  /** How long a link works, ms (default 10 minutes). */
  readonly ttlMs?: number;
}

/** Spent and expired tokens are kept this long after expiry, for the audit of recent sign-ins. */
const KEEP_EXPIRED_MS = 24 * 60 * 60_000;

/**
 * The links `/link` and `/dashboard` reply with. The link carries a one-time token bound to the user
 * and to the chat identity that asked (told the outcome of an OAuth link).
 */
export function createLinkIssuer(options: LinkIssuerOptions): LinkIssuer {
  const clock = options.clock ?? systemClock;
  const ttlMs = options.ttlMs ?? 10 * 60_000;
  const base = () =>
    (typeof options.publicUrl === 'function' ? options.publicUrl() : options.publicUrl).replace(/\/+$/, '');

  const issue = async (
    purpose: 'sign_in' | 'oauth_link',
    path: string,
    userId: string,
    requestedBy: Principal,
  ): Promise<IssuedLink> => {
    const now = clock.now();
    const token = newToken();
    const expiresAt = new Date(now.getTime() + ttlMs);
    await options.tokens.purgeExpired(new Date(now.getTime() - KEEP_EXPIRED_MS));
    await options.tokens.issue({
      purpose,
      tokenHash: hashToken(token),
      userId,
      expiresAt,
      requestedBy: { platform: requestedBy.platform, externalId: requestedBy.userId },
    });
    return { url: `${base()}${path}?t=${token}`, expiresAt };
  };

  return {
    linkUrl: async (userId, requestedBy) =>
      options.oauthEnabled ? issue('oauth_link', '/oauth/start', userId, requestedBy) : null,
    dashboardUrl: (userId, requestedBy) => issue('sign_in', '/signin', userId, requestedBy),
  };
}
