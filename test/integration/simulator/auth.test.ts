import { afterEach, describe, expect, it } from 'vitest';
import {
  DEMO_OAUTH_CLIENT,
  DEMO_USER,
  ManualClock,
  type Simulator,
  type SimulatorOptions,
  startSimulator,
} from '../../fakes/tradovate/server.js';
import { credentials, login, rest, WsClient } from './client.js';

let sim: Simulator;
const clients: WsClient[] = [];

async function start(options: SimulatorOptions = {}): Promise<Simulator> {
  sim = await startSimulator(options);
  return sim;
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await sim?.close();
});

describe('auth/accesstokenrequest', () => {
  it('returns tokens, an ISO expiry 80 minutes ahead and the user, with cid as a number or a string', async () => {
    const clock = new ManualClock();
    await start({ clock });
    const res = await rest(sim, 'auth/accesstokenrequest', { body: credentials(DEMO_USER) });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      userId: DEMO_USER.userId,
      name: DEMO_USER.name,
      userStatus: 'Active',
      hasLive: false,
      expirationTime: new Date(clock.now() + 80 * 60_000).toISOString(),
    });
    expect(res.body.accessToken).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(res.body.mdAccessToken).toEqual(expect.any(String));

    const asString = await rest(sim, 'auth/accesstokenrequest', {
      body: { ...credentials(DEMO_USER), cid: String(DEMO_USER.cid) },
    });
    expect(asString.body.accessToken).toEqual(expect.any(String));
  });

  it('answers a wrong password or API key with HTTP 200 and errorText', async () => {
    await start();
    const wrong = await rest(sim, 'auth/accesstokenrequest', {
      body: { ...credentials(DEMO_USER), password: 'nope' },
    });
    expect(wrong.status).toBe(200);
    expect(wrong.body.errorText).toMatch(/Incorrect username or password/);
    expect(wrong.body.accessToken).toBeUndefined();
    const badKey = await rest(sim, 'auth/accesstokenrequest', {
      body: { ...credentials(DEMO_USER), sec: 'other' },
    });
    expect(badKey.body.errorText).toEqual(expect.any(String));
  });

  it('answers 401 for a missing, unknown or expired token', async () => {
    const clock = new ManualClock();
    await start({ clock, tokenLifetimeMs: 60_000 });
    expect((await rest(sim, 'account/list')).status).toBe(401);
    expect((await rest(sim, 'account/list', { token: 'not-a-token' })).status).toBe(401);
    const { accessToken } = await login(sim, DEMO_USER);
    expect((await rest(sim, 'account/list', { token: accessToken })).status).toBe(200);
    clock.advance(60_001);
    expect((await rest(sim, 'account/list', { token: accessToken })).status).toBe(401);
  });
});

describe('auth/renewaccesstoken', () => {
  it('issues a new token in the same session while the old one keeps working until it expires', async () => {
    const clock = new ManualClock();
    await start({ clock });
    const first = await login(sim, DEMO_USER);
    clock.advance(60 * 60_000);
    const renewed = await rest(sim, 'auth/renewaccesstoken', { token: first.accessToken });
    expect(renewed.status).toBe(200);
    expect(renewed.body.accessToken).not.toBe(first.accessToken);
    expect(renewed.body.expirationTime).toBe(new Date(clock.now() + 80 * 60_000).toISOString());
    expect(sim.sessions(DEMO_USER.name)).toHaveLength(1);

    expect((await rest(sim, 'auth/me', { token: first.accessToken })).status).toBe(200);
    clock.advance(20 * 60_000 + 1);
    expect((await rest(sim, 'auth/me', { token: first.accessToken })).status).toBe(401);
    expect((await rest(sim, 'auth/me', { token: renewed.body.accessToken })).status).toBe(200);
  });
});

describe('sessions', () => {
  it('closes the oldest session on a third login: its tokens answer 401 and its sockets close', async () => {
    await start();
    const first = await login(sim, DEMO_USER);
    const ws = await WsClient.connect(sim.wsUrl);
    clients.push(ws);
    expect((await ws.authorize(first.accessToken)).s).toBe(200);
    const second = await login(sim, DEMO_USER);
    expect(sim.sessions(DEMO_USER.name)).toHaveLength(2);

    const third = await login(sim, DEMO_USER);
    expect(sim.sessions(DEMO_USER.name)).toHaveLength(2);
    expect((await rest(sim, 'account/list', { token: first.accessToken })).status).toBe(401);
    expect((await rest(sim, 'account/list', { token: second.accessToken })).status).toBe(200);
    expect((await rest(sim, 'account/list', { token: third.accessToken })).status).toBe(200);
    await ws.closed;
    expect(ws.frames.at(-1)).toMatch(/^c\[/);
  });
});

describe('auth/me', () => {
  it('is served with and without /v1', async () => {
    await start();
    const { accessToken } = await login(sim, DEMO_USER);
    const withV1 = await rest(sim, 'auth/me', { token: accessToken });
    const withoutV1 = await rest(sim, `http://127.0.0.1:${sim.port}/auth/me`, { token: accessToken });
    expect(withV1.body).toMatchObject({ userId: DEMO_USER.userId, name: DEMO_USER.name });
    expect(withoutV1.body).toEqual(withV1.body);
  });
});

describe('OAuth', () => {
  const redirectUri = DEMO_OAUTH_CLIENT.redirectUris[0]!;
  const authorizeUrl = () =>
    `${sim.oauthAuthorizeUrl}?response_type=code&client_id=${DEMO_OAUTH_CLIENT.clientId}` +
    `&redirect_uri=${encodeURIComponent(redirectUri)}&state=xyz`;

  async function code(): Promise<string> {
    const res = await fetch(authorizeUrl(), { redirect: 'manual' });
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get('location')!);
    expect(`${location.origin}${location.pathname}`).toBe(redirectUri);
    expect(location.searchParams.get('state')).toBe('xyz');
    return location.searchParams.get('code')!;
  }

  const exchangeBody = (c: string) => ({
    grant_type: 'authorization_code',
    code: c,
    redirect_uri: redirectUri,
    client_id: DEMO_OAUTH_CLIENT.clientId,
    client_secret: DEMO_OAUTH_CLIENT.clientSecret,
  });

  it('redirects the logged-in user with a code that a form-encoded exchange at /auth/oauthtoken turns into tokens', async () => {
    await start({ oauthUser: DEMO_USER.name });
    const res = await rest(sim, `http://127.0.0.1:${sim.port}/auth/oauthtoken`, {
      body: exchangeBody(await code()),
      form: true,
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ token_type: 'Bearer', expires_in: 80 * 60 });
    expect(res.body.refresh_token).toEqual(expect.any(String));
    const me = await rest(sim, 'auth/me', { token: res.body.access_token });
    expect(me.body.userId).toBe(DEMO_USER.userId);
  });

  it('accepts a JSON exchange at /v1/auth/oauthtoken, refreshes with rotation, and refuses a reused code', async () => {
    await start({ oauthUser: DEMO_USER.name });
    const c = await code();
    const first = await rest(sim, 'auth/oauthtoken', { body: exchangeBody(c) });
    expect(first.body.access_token).toEqual(expect.any(String));

    const reused = await rest(sim, 'auth/oauthtoken', { body: exchangeBody(c) });
    expect(reused.status).toBe(200);
    expect(reused.body.error).toBe('invalid_grant');

    const refreshBody = {
      grant_type: 'refresh_token',
      refresh_token: first.body.refresh_token,
      client_id: DEMO_OAUTH_CLIENT.clientId,
      client_secret: DEMO_OAUTH_CLIENT.clientSecret,
    };
    const refreshed = await rest(sim, 'auth/oauthtoken', { body: refreshBody });
    expect(refreshed.body.access_token).not.toBe(first.body.access_token);
    expect((await rest(sim, 'auth/oauthtoken', { body: refreshBody })).body.error).toBe('invalid_token');
  });

  it('refuses a wrong client secret with error and error_description', async () => {
    await start({ oauthUser: DEMO_USER.name });
    const res = await rest(sim, 'auth/oauthtoken', {
      body: { ...exchangeBody(await code()), client_secret: 'x' },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ error: 'invalid_client', error_description: expect.any(String) });
  });

  it('renders a login form without a logged-in user, and redirects after a correct submission', async () => {
    await start();
    const page = await fetch(authorizeUrl());
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<form');
    const submitted = await fetch(sim.oauthAuthorizeUrl, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        client_id: DEMO_OAUTH_CLIENT.clientId,
        redirect_uri: redirectUri,
        state: 's1',
        name: DEMO_USER.name,
        password: DEMO_USER.password,
      }).toString(),
    });
    expect(submitted.status).toBe(302);
    expect(new URL(submitted.headers.get('location')!).searchParams.get('code')).toEqual(expect.any(String));
  });

  it('refuses an unregistered redirect_uri without redirecting', async () => {
    await start({ oauthUser: DEMO_USER.name });
    const res = await fetch(
      `${sim.oauthAuthorizeUrl}?response_type=code&client_id=${DEMO_OAUTH_CLIENT.clientId}&redirect_uri=${encodeURIComponent('http://evil.test/cb')}`,
      { redirect: 'manual' },
    );
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
  });
});
