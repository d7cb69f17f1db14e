import { afterEach, describe, expect, it } from 'vitest';
import {
  DEMO_USER,
  ManualClock,
  type Simulator,
  type SimulatorOptions,
  startSimulator,
} from '../../fakes/tradovate/server.js';
import { credentials, login, rest, WsClient } from './client.js';

let sim: Simulator;
const clients: WsClient[] = [];
const ACCOUNT = DEMO_USER.accounts[0]!.id;
const ORDER = {
  accountId: ACCOUNT,
  action: 'Buy',
  symbol: 'MNQH6',
  orderQty: 1,
  orderType: 'Market',
  isAutomated: true,
};

// 2026-01-05 by default, so MNQH6 is the front month.
async function start(options: SimulatorOptions = {}): Promise<Simulator> {
  sim = await startSimulator({ clock: new ManualClock(), ...options });
  return sim;
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await sim?.close();
});

describe('penalty tickets', () => {
  it('answers logins past 5 failures an hour with a captcha ticket, honoured only after p-time', async () => {
    const clock = new ManualClock();
    await start({ clock });
    const wrong = { ...credentials(DEMO_USER), password: 'wrong' };
    for (let i = 0; i < 5; i++) {
      expect((await rest(sim, 'auth/accesstokenrequest', { body: wrong })).body.errorText).toEqual(
        expect.any(String),
      );
    }
    const penalized = await rest(sim, 'auth/accesstokenrequest', { body: credentials(DEMO_USER) });
    expect(penalized.status).toBe(200);
    expect(penalized.body).toEqual({ 'p-ticket': expect.any(String), 'p-time': 15, 'p-captcha': true });
    expect(sim.sessions(DEMO_USER.name)).toHaveLength(0);

    const ticketed = { ...credentials(DEMO_USER), 'p-ticket': penalized.body['p-ticket'] };
    clock.advance(10_000);
    const early = await rest(sim, 'auth/accesstokenrequest', { body: ticketed });
    expect(early.body).toMatchObject({ 'p-ticket': penalized.body['p-ticket'], 'p-time': 5 });

    clock.advance(5_000);
    const accepted = await rest(sim, 'auth/accesstokenrequest', { body: ticketed });
    expect(accepted.body.accessToken).toEqual(expect.any(String));
    // Single use: the same ticket again is just another request over the limit.
    expect((await rest(sim, 'auth/accesstokenrequest', { body: ticketed })).body['p-ticket']).toEqual(
      expect.any(String),
    );
  });

  it('counts successful renewals; a penalized renewal resent with the ticket after p-time goes through', async () => {
    const clock = new ManualClock();
    await start({
      clock,
      limits: { endpoints: { renewaccesstoken: { perHour: 2, backoffSeconds: 5, counts: 'all' } } },
    });
    const { accessToken } = await login(sim, DEMO_USER);
    for (let i = 0; i < 2; i++) {
      expect((await rest(sim, 'auth/renewaccesstoken', { token: accessToken })).body.accessToken).toEqual(
        expect.any(String),
      );
    }
    const penalized = await rest(sim, 'auth/renewaccesstoken', { token: accessToken });
    expect(penalized.body).toEqual({ 'p-ticket': expect.any(String), 'p-time': 5 });
    clock.advance(5_000);
    const ws = await WsClient.connect(sim.wsUrl);
    clients.push(ws);
    await ws.authorize(accessToken);
    const resent = await ws.request('auth/renewaccesstoken', { 'p-ticket': penalized.body['p-ticket'] });
    expect(resent).toMatchObject({ s: 200, d: { accessToken: expect.any(String) } });
  });

  it('injects penalties on a share of requests without executing them', async () => {
    const clock = new ManualClock();
    await start({ clock, faults: { penaltyRate: 1, endpoints: ['order/placeorder'] } });
    const { accessToken } = await login(sim, DEMO_USER);
    const penalized = await rest(sim, 'order/placeorder', { token: accessToken, body: ORDER });
    expect(penalized.body['p-ticket']).toEqual(expect.any(String));
    expect(penalized.body['p-captcha']).toBeUndefined();
    expect(sim.orders(ACCOUNT)).toHaveLength(0);
    clock.advance(penalized.body['p-time'] * 1000);
    const resent = await rest(sim, 'order/placeorder', {
      token: accessToken,
      body: { ...ORDER, 'p-ticket': penalized.body['p-ticket'] },
    });
    expect(resent.body.orderId).toEqual(expect.any(Number));
  });
});

describe('user-level limits', () => {
  it('answers past the per-second budget with an empty 429 over REST and {s:429,i} over WS, until the window slides', async () => {
    const clock = new ManualClock();
    await start({ clock, limits: { user: { perSecond: 3 } } });
    const { accessToken } = await login(sim, DEMO_USER);
    const ws = await WsClient.connect(sim.wsUrl);
    clients.push(ws);
    await ws.authorize(accessToken);
    expect((await rest(sim, 'account/list', { token: accessToken })).status).toBe(200);
    expect((await rest(sim, 'account/list', { token: accessToken })).status).toBe(200);
    expect((await ws.request('account/list')).s).toBe(200);
    const limited = await rest(sim, 'account/list', { token: accessToken });
    expect(limited.status).toBe(429);
    expect(limited.text).toBe('');
    const wsLimited = await ws.request('account/list');
    expect(wsLimited).toEqual({ s: 429, i: wsLimited.i });

    clock.advance(1000);
    expect((await rest(sim, 'account/list', { token: accessToken })).status).toBe(200);
  });

  it('answers every request of a user listed in faults.rateLimitUsers with 429, and recovers when removed', async () => {
    await start();
    const { accessToken } = await login(sim, DEMO_USER);
    sim.faults.rateLimitUsers.push(DEMO_USER.name);
    expect((await rest(sim, 'account/list', { token: accessToken })).status).toBe(429);
    expect((await rest(sim, 'auth/accesstokenrequest', { body: credentials(DEMO_USER) })).status).toBe(429);
    sim.faults.rateLimitUsers.length = 0;
    expect((await rest(sim, 'account/list', { token: accessToken })).status).toBe(200);
  });
});

describe('injected failures', () => {
  it('answers 500 without executing', async () => {
    await start({ faults: { serverErrorRate: 1, endpoints: ['order/placeorder'] } });
    const { accessToken } = await login(sim, DEMO_USER);
    const res = await rest(sim, 'order/placeorder', { token: accessToken, body: ORDER });
    expect(res.status).toBe(500);
    expect(sim.orders(ACCOUNT)).toHaveLength(0);
  });

  it('executes a timed-out request but never answers it', async () => {
    await start();
    const { accessToken } = await login(sim, DEMO_USER);
    sim.faults.timeoutRate = 1;
    await expect(
      rest(sim, 'order/placeorder', { token: accessToken, body: ORDER, signal: AbortSignal.timeout(300) }),
    ).rejects.toThrow();
    expect(sim.orders(ACCOUNT)).toHaveLength(1);
    expect(sim.requests.filter({ endpoint: 'order/placeorder' })[0]?.status).toBe('timeout');
  });

  it('delays answers by the configured latency', async () => {
    await start({ latency: { meanMs: 150, jitterMs: 0 } });
    const started = Date.now();
    await login(sim, DEMO_USER);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('holds a request on its way in and its answer on its way out', async () => {
    await start({ network: { meanMs: 40, jitterMs: 0 } });
    const started = Date.now();
    await login(sim, DEMO_USER);
    expect(Date.now() - started).toBeGreaterThanOrEqual(78);
  });

  it('never reorders one socket, however the delays are drawn', async () => {
    // 5 to 95 ms each way, drawn per message.
    await start({ network: { meanMs: 50, jitterMs: 45 }, seed: 7 });
    const { accessToken } = await login(sim, DEMO_USER);
    const ws = await WsClient.connect(sim.wsUrl);
    clients.push(ws);
    expect((await ws.authorize(accessToken)).s).toBe(200);
    for (let id = 2; id <= 13; id++) ws.send(`account/list\n${id}\n\n`);
    await ws.response(13);
    const answered = ws.messages.filter((m) => typeof m.i === 'number' && m.i >= 2).map((m) => m.i);
    expect(answered).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
  });

  it('records requests per user, endpoint and transport, and forgets them on resetCounters', async () => {
    await start();
    const { accessToken } = await login(sim, DEMO_USER);
    await rest(sim, 'account/list', { token: accessToken, method: 'GET' });
    await rest(sim, 'Account/List', { token: accessToken, method: 'POST' });
    expect(sim.requests.byUser()).toEqual({ demo: { 'auth/accesstokenrequest': 1, 'account/list': 2 } });
    expect(sim.requests.filter({ endpoint: 'account/list' }).map((r) => r.method)).toEqual(['GET', 'POST']);
    sim.resetCounters();
    expect(sim.requests.count()).toBe(0);
  });
});
