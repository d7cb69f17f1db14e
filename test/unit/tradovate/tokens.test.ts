import { afterEach, describe, expect, it } from 'vitest';
import type { Clock, TradovateSecret } from '../../../src/brokers/tradovate/index.js';
import { exchangeOAuthCode, TradovateBroker } from '../../../src/brokers/tradovate/index.js';
import {
  type FakeRoute,
  fakeVenue,
  MemoryCredentialStore,
  MemoryLogger,
  REST_URL,
  tokenAnswer,
} from './fake-venue.js';

const NOW = Date.parse('2026-01-05T15:00:00Z');
const MIN = 60_000;
const ACCOUNTS: FakeRoute = () => ({
  body: [{ id: 700001, name: 'DEMO700001', userId: 5001, active: true }],
});

function setup(
  secret: TradovateSecret,
  routes: Record<string, FakeRoute> = {},
  extra: { oauth?: boolean } = {},
) {
  const venue = fakeVenue({ 'account/list': ACCOUNTS, ...routes });
  const store = new MemoryCredentialStore();
  store.secrets.set('c1', secret);
  const log = new MemoryLogger();
  const states: [string, string, string][] = [];
  let now = NOW;
  const clock: Clock = { now: () => now, sleep: async () => {} };
  const broker = new TradovateBroker({
    restUrl: REST_URL,
    wsUrl: 'ws://127.0.0.1:9/unused',
    credentials: store,
    log,
    fetch: venue.fetch,
    clock,
    pool: { maxSockets: 0 },
    onCredentialState: (id, state, reason) => states.push([id, state, reason]),
    ...(extra.oauth
      ? {
          tokens: {
            oauth: {
              tokenUrl: 'http://venue.test/auth/oauthtoken',
              clientId: 'app',
              clientSecret: 'app-secret',
            },
          },
        }
      : {}),
  });
  return { venue, store, log, states, broker, advance: (ms: number) => (now += ms) };
}

const LOGIN = {
  name: 'demo',
  password: 'pw-secret',
  appId: 'tradecast',
  appVersion: '1.0',
  cid: 8,
  sec: 'sec-secret',
};

describe('Tradovate token sources', () => {
  let broker: TradovateBroker | undefined;
  afterEach(async () => {
    await broker?.close();
  });

  it('uses a stored OAuth token that is not near expiry, then the cache, without any auth call', async () => {
    const t = setup({ accessToken: 'stored-1', expiresAt: new Date(NOW + 60 * MIN).toISOString() });
    broker = t.broker;
    expect((await t.broker.listAccounts('c1')).ok).toBe(true);
    expect((await t.broker.listAccounts('c1')).ok).toBe(true);
    expect(t.venue.calls.map((c) => c.endpoint)).toEqual(['account/list', 'account/list']);
    expect(t.venue.calls.every((c) => c.token === 'stored-1')).toBe(true);
    expect(t.log.sources('c1')).toEqual(['stored', 'cache']);
    expect(t.log.entries.find((e) => e.obj.source === 'stored')?.msg).toBe('token from stored OAuth token');
  });

  it('renews a token inside the margin with Bearer, keeps the session, and stores the expiry the venue returned', async () => {
    const renewedExpiry = new Date(NOW + 85 * MIN);
    const t = setup(
      { accessToken: 'stored-1', expiresAt: new Date(NOW + 10 * MIN).toISOString(), ...LOGIN },
      { 'auth/renewaccesstoken': () => tokenAnswer('renewed-1', renewedExpiry) },
    );
    broker = t.broker;
    expect((await t.broker.listAccounts('c1')).ok).toBe(true);
    expect(t.venue.calls.map((c) => [c.endpoint, c.token])).toEqual([
      ['auth/renewaccesstoken', 'stored-1'],
      ['account/list', 'renewed-1'],
    ]);
    expect(t.venue.count('auth/accesstokenrequest')).toBe(0);
    expect(t.store.writes).toEqual([
      expect.objectContaining({ credentialId: 'c1', tokenSource: 'renewed', tokenExpiresAt: renewedExpiry }),
    ]);
    expect(t.store.secrets.get('c1')).toMatchObject({
      accessToken: 'renewed-1',
      expiresAt: renewedExpiry.toISOString(),
      name: 'demo',
    });
    expect(t.log.sources('c1')).toEqual(['renewed']);
  });

  it('shares one renewal among concurrent callers', async () => {
    let renewals = 0;
    const t = setup(
      { accessToken: 'stored-1', expiresAt: new Date(NOW + 5 * MIN).toISOString() },
      {
        'auth/renewaccesstoken': async () => {
          renewals++;
          await new Promise((resolve) => setTimeout(resolve, 20));
          return tokenAnswer('renewed-1', new Date(NOW + 80 * MIN));
        },
      },
    );
    broker = t.broker;
    const results = await Promise.all(Array.from({ length: 20 }, () => t.broker.listAccounts('c1')));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(renewals).toBe(1);
  });

  it('logs in only when no valid token exists, with the API-access fields, and never logs the secrets', async () => {
    const t = setup(
      { accessToken: 'stale', expiresAt: new Date(NOW - MIN).toISOString(), ...LOGIN, deviceId: 'dev-1' },
      { 'auth/accesstokenrequest': () => tokenAnswer('login-1', new Date(NOW + 80 * MIN)) },
    );
    broker = t.broker;
    expect((await t.broker.listAccounts('c1')).ok).toBe(true);
    const login = t.venue.calls.find((c) => c.endpoint === 'auth/accesstokenrequest');
    expect(login?.body).toEqual({ ...LOGIN, deviceId: 'dev-1' });
    expect(login?.token).toBeNull();
    expect(t.venue.count('auth/renewaccesstoken')).toBe(0);
    expect(t.log.sources('c1')).toEqual(['login']);
    expect(t.store.writes[0]).toMatchObject({ tokenSource: 'login' });
    const logged = t.log.text();
    for (const secret of ['pw-secret', 'sec-secret', 'login-1', 'stale'])
      expect(logged).not.toContain(secret);
  });

  it('falls back to login when the venue refuses the renewal of a near-expiry token', async () => {
    const t = setup(
      { accessToken: 'revoked', expiresAt: new Date(NOW + 5 * MIN).toISOString(), ...LOGIN },
      {
        'auth/renewaccesstoken': () => ({ status: 401, body: 'Access is denied' }),
        'auth/accesstokenrequest': () => tokenAnswer('login-1', new Date(NOW + 80 * MIN)),
      },
    );
    broker = t.broker;
    expect((await t.broker.listAccounts('c1')).ok).toBe(true);
    expect(t.venue.calls.map((c) => c.endpoint)).toEqual([
      'auth/renewaccesstoken',
      'auth/accesstokenrequest',
      'account/list',
    ]);
  });

  it('keeps using a still-valid token when the renewal cannot be made right now', async () => {
    const t = setup(
      { accessToken: 'stored-1', expiresAt: new Date(NOW + 10 * MIN).toISOString(), ...LOGIN },
      { 'auth/renewaccesstoken': () => ({ status: 503, body: 'unavailable' }) },
    );
    broker = t.broker;
    expect((await t.broker.listAccounts('c1')).ok).toBe(true);
    expect(t.venue.count('auth/accesstokenrequest')).toBe(0);
    expect(t.venue.calls.at(-1)).toMatchObject({ endpoint: 'account/list', token: 'stored-1' });
  });

  it('uses the OAuth refresh grant for an expired OAuth token before considering a login', async () => {
    const t = setup(
      { accessToken: 'old', expiresAt: new Date(NOW - MIN).toISOString(), refreshToken: 'rt-1', ...LOGIN },
      {
        'auth/oauthtoken': () => ({
          body: { access_token: 'oauth-2', expires_in: 5400, refresh_token: 'rt-2' },
        }),
      },
      { oauth: true },
    );
    broker = t.broker;
    expect((await t.broker.listAccounts('c1')).ok).toBe(true);
    const grant = t.venue.calls.find((c) => c.endpoint === 'auth/oauthtoken');
    expect(grant?.body).toEqual({
      grant_type: 'refresh_token',
      refresh_token: 'rt-1',
      client_id: 'app',
      client_secret: 'app-secret',
    });
    expect(t.venue.count('auth/accesstokenrequest')).toBe(0);
    expect(t.log.sources('c1')).toEqual(['refreshed']);
    expect(t.store.secrets.get('c1')).toMatchObject({ accessToken: 'oauth-2', refreshToken: 'rt-2' });
    expect(t.venue.calls.at(-1)).toMatchObject({ endpoint: 'account/list', token: 'oauth-2' });
  });

  it('marks the credential as needing re-authorization when no token and no login remain, once', async () => {
    const t = setup({ accessToken: 'old', expiresAt: new Date(NOW - MIN).toISOString() });
    broker = t.broker;
    const first = await t.broker.listAccounts('c1');
    const second = await t.broker.listAccounts('c1');
    expect(first).toMatchObject({
      ok: false,
      error: { kind: 'unavailable', reason: 'NeedsReauth', retryable: false },
    });
    expect(second).toMatchObject({ ok: false, error: { reason: 'NeedsReauth' } });
    expect(t.states.map(([, s]) => s)).toEqual(['needs_reauth']);
    expect(t.venue.calls).toHaveLength(0);

    // A newly linked token lifts the state.
    t.store.secrets.set('c1', { accessToken: 'fresh', expiresAt: new Date(NOW + 60 * MIN).toISOString() });
    expect((await t.broker.listAccounts('c1')).ok).toBe(true);
    expect(t.states.map(([, s]) => s)).toEqual(['needs_reauth', 'ok']);
  });

  it('renews on demand for the refresh job, whatever the margin says', async () => {
    const t = setup(
      { accessToken: 'stored-1', expiresAt: new Date(NOW + 60 * MIN).toISOString() },
      { 'auth/renewaccesstoken': () => tokenAnswer('renewed-1', new Date(NOW + 90 * MIN)) },
    );
    broker = t.broker;
    const r = await t.broker.renewToken('c1');
    expect(r).toEqual({ ok: true, value: { expiresAt: new Date(NOW + 90 * MIN), source: 'renewed' } });
    expect(t.venue.count('auth/renewaccesstoken')).toBe(1);
  });
});

describe('OAuth linking calls', () => {
  it('exchanges a code with a form-encoded POST and reads errors carried in a 200', async () => {
    const seen: { url: string; type: string | null; form: Record<string, string> }[] = [];
    const fetch = async (url: string, init: RequestInit) => {
      seen.push({
        url,
        type: new Headers(init.headers).get('content-type'),
        form: Object.fromEntries(new URLSearchParams(String(init.body))),
      });
      return new Response(JSON.stringify({ error: 'invalid_grant', error_description: 'code already used' }));
    };
    const r = await exchangeOAuthCode({
      tokenUrl: 'http://venue.test/auth/oauthtoken',
      clientId: 'app',
      clientSecret: 'app-secret',
      redirectUri: 'http://127.0.0.1:8080/oauth/callback',
      code: 'code-1',
      fetch,
    });
    expect(r).toEqual({ ok: false, error: { error: 'invalid_grant', description: 'code already used' } });
    expect(seen[0]).toEqual({
      url: 'http://venue.test/auth/oauthtoken',
      type: 'application/x-www-form-urlencoded',
      form: {
        grant_type: 'authorization_code',
        code: 'code-1',
        redirect_uri: 'http://127.0.0.1:8080/oauth/callback',
        client_id: 'app',
        client_secret: 'app-secret',
      },
    });
  });
});
