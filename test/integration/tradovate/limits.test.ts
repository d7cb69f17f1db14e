import { afterEach, describe, expect, it } from 'vitest';
import { accountRef, makeUser, type Rig, restingBuy, rig } from './harness.js';

const USER = makeUser(2, 2);
const ACCOUNT = accountRef(USER);
const order = (clientOrderId: string) => restingBuy(ACCOUNT, clientOrderId);

describe('Tradovate adapter limits and penalties against the simulator', () => {
  let r: Rig | undefined;
  afterEach(async () => {
    await r?.close();
    r = undefined;
  });

  it('waits out a penalty ticket and resends with the ticket: the order is placed once', async () => {
    r = await rig({
      users: [USER],
      sim: {
        limits: {
          endpointKey: 'user',
          endpoints: { placeorder: { perHour: 1, backoffSeconds: 4, counts: 'all' } },
        },
      },
    });
    expect((await r.broker.placeOrder(order('tc.p1'))).ok).toBe(true);
    const second = await r.broker.placeOrder(order('tc.p2'));
    expect(second).toMatchObject({ ok: true, value: { clientOrderId: 'tc.p2', status: 'working' } });
    expect(r.slept).toEqual([4000]);
    expect(r.sim.requests.count({ endpoint: 'order/placeorder' })).toBe(3);
    const placed = r.sim.orders(Number(ACCOUNT.brokerAccountId)).map((o) => o.clOrdId);
    expect(placed.sort()).toEqual(['tc.p1', 'tc.p2']);
  });

  it('locks the credential on a captcha penalty: no retry, one notice, nothing more sent', async () => {
    r = await rig({
      users: [USER],
      sim: {
        limits: {
          endpointKey: 'user',
          endpoints: { placeorder: { perHour: 0, backoffSeconds: 60, counts: 'all', captcha: true } },
        },
      },
    });
    const first = await r.broker.placeOrder(order('tc.c1'));
    expect(first).toMatchObject({
      ok: false,
      error: { kind: 'unavailable', reason: 'CredentialLocked', retryable: false },
    });
    const sent = r.sim.requests.entries.length;
    const again = await Promise.all([
      r.broker.placeOrder(order('tc.c2')),
      r.broker.positions(ACCOUNT),
      r.broker.listAccounts(USER.name),
    ]);
    for (const result of again)
      expect(result).toMatchObject({ ok: false, error: { reason: 'CredentialLocked' } });
    expect(r.sim.requests.entries.length).toBe(sent);
    expect(r.sim.requests.count({ endpoint: 'order/placeorder' })).toBe(1);
    expect(r.slept).toEqual([]);
    expect(r.states.map(([id, state]) => [id, state])).toEqual([[USER.name, 'locked']]);
    expect(r.sim.orders(Number(ACCOUNT.brokerAccountId))).toEqual([]);
  });

  it('cools the credential down after a 429 and sends nothing for it until the cool-down ends', async () => {
    r = await rig({ users: [USER], broker: { limits: { cooldownMs: 60 * 60_000 } } });
    expect((await r.broker.listAccounts(USER.name)).ok).toBe(true);
    r.sim.faults.rateLimitUsers = [USER.name];
    const hit = await r.broker.positions(ACCOUNT);
    expect(hit).toMatchObject({ ok: false, error: { kind: 'rate_limited', retryAfterMs: 60 * 60_000 } });
    r.sim.faults.rateLimitUsers = [];
    const sent = r.sim.requests.entries.length;
    const during = await r.broker.placeOrder(order('tc.cool'));
    expect(during).toMatchObject({ ok: false, error: { kind: 'rate_limited' } });
    expect(r.sim.requests.entries.length).toBe(sent);

    r.clock.advance(60 * 60_000 + 1);
    expect((await r.broker.placeOrder(order('tc.cool'))).ok).toBe(true);
  });

  it('counts every request against the credential’s own budget', async () => {
    r = await rig({ users: [USER, makeUser(3, 1)] });
    await r.broker.listAccounts(USER.name);
    await r.broker.positions(ACCOUNT);
    const usage = await r.broker.budgetUsage(USER.name);
    expect(usage).toMatchObject({
      second: 2,
      minute: 2,
      hour: 2,
      limits: { second: 10, minute: 80, hour: 5000 },
    });
    expect(await r.broker.budgetUsage('trader3')).toMatchObject({ second: 0, minute: 0, hour: 0 });
  });
});
