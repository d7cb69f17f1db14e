import { afterEach, describe, expect, it } from 'vitest';
import type { AccountRef, BrokerResult, PlacedBracket } from '../../../src/brokers/broker.js';
import { accountRef, makeUser, type Rig, restingBuy, rig, until } from './harness.js';

describe('Tradovate adapter sockets against the simulator', () => {
  let r: Rig | undefined;
  afterEach(async () => {
    await r?.close();
    r = undefined;
  });

  it('shares one socket per credential, opened on first use, for every request', async () => {
    const user = makeUser(4, 3);
    r = await rig({ users: [user] });
    expect(r.sim.sockets(user.name)).toBe(0);
    const accounts = user.accounts.map((a) => ({ credentialId: user.name, brokerAccountId: String(a.id) }));
    await Promise.all(accounts.flatMap((a) => [r!.broker.positions(a), r!.broker.workingOrders(a)]));
    expect(r.sim.sockets(user.name)).toBe(1);
    expect(r.broker.transportStats().socketsOpened.get(user.name)).toBe(1);
    expect(r.sim.requests.count({ transport: 'rest' })).toBe(0);
    expect(r.sim.requests.count({ endpoint: 'authorize' })).toBe(1);
  });

  it('when the socket drops mid-requests, each order is placed once or reported unknown, never sent twice', async () => {
    const user = makeUser(5, 10);
    // A budget wide enough that settling ten orders by lookup does not pace the test.
    r = await rig({ users: [user], broker: { limits: { perSecond: 200, perMinute: 5000 } } });
    const accounts: AccountRef[] = user.accounts.map((a) => ({
      credentialId: user.name,
      brokerAccountId: String(a.id),
    }));
    expect((await r.broker.listAccounts(user.name)).ok).toBe(true);
    // The socket has answered one request; it is cut while executing the fourth.
    r.sim.faults.dropSocketAfterMessages = 4;
    const placements = accounts.map((account, i) =>
      r!.broker.placeOrder({
        account,
        clientOrderId: `tc.drop.${i}`,
        contract: 'MNQH6',
        side: 'buy',
        quantity: 1,
        type: 'limit',
        price: 21000 - i,
      }),
    );
    // A read in flight on the same socket is retried over REST instead of failing.
    const read = r.broker.positions(accounts[0]!);
    const results = await Promise.all(placements);
    r.sim.faults.dropSocketAfterMessages = null;
    expect((await read).ok).toBe(true);

    const unknown = results.filter((x) => !x.ok);
    expect(unknown.length).toBeGreaterThan(0);
    for (const x of unknown) expect(x).toMatchObject({ ok: false, error: { kind: 'outcome_unknown' } });
    for (const [i, account] of accounts.entries()) {
      const atVenue = r.sim
        .orders(Number(account.brokerAccountId))
        .filter((o) => o.clOrdId === `tc.drop.${i}`);
      expect(atVenue.length).toBeLessThanOrEqual(1);
      if (results[i]!.ok) expect(atVenue).toHaveLength(1);
      // Settling by lookup agrees with the venue.
      const found = await r.broker.findOrder(account, `tc.drop.${i}`);
      expect(found.ok).toBe(true);
      if (found.ok) expect(found.value?.orderId ?? null).toBe(atVenue[0] ? String(atVenue[0].id) : null);
    }
    // Every placement reached the venue at most once.
    expect(r.sim.requests.count({ endpoint: 'order/placeorder' })).toBeLessThanOrEqual(accounts.length);
  });

  it('reports a shutdown event, and carries on over a new socket without two at once', async () => {
    const user = makeUser(6, 1);
    r = await rig({ users: [user] });
    const account = accountRef(user);
    expect((await r.broker.positions(account)).ok).toBe(true);
    expect(r.sim.shutdownSockets(user.name, 'Maintenance', 'scheduled restart')).toBe(1);
    await until(() => r!.events.some((e) => e.type === 'shutdown'));
    expect(r.events).toContainEqual({
      type: 'shutdown',
      credentialId: user.name,
      reasonCode: 'Maintenance',
      reason: 'scheduled restart',
    });
    expect((await r.broker.positions(account)).ok).toBe(true);
    expect(r.sim.sockets(user.name)).toBeLessThanOrEqual(1);
  });

  it('streams props events after user/syncrequest when sync is on', async () => {
    const user = makeUser(7, 1);
    r = await rig({ users: [user], broker: { pool: { sync: true } } });
    const account = accountRef(user);
    expect((await r.broker.listAccounts(user.name)).ok).toBe(true);
    await until(() => r!.sim.requests.count({ endpoint: 'user/syncrequest' }) === 1);
    const placed = await r.broker.placeOrder(restingBuy(account, 'tc.props'));
    expect(placed.ok).toBe(true);
    await until(() =>
      r!.events.some(
        (e) =>
          e.type === 'props' &&
          e.entityType === 'order' &&
          e.entities.some((o) => String(o.id) === (placed.ok ? placed.value.orderId : '')),
      ),
    );
  });

  it('reports a placement whose answer never comes as unknown after the request timeout, placed exactly once', async () => {
    const user = makeUser(9, 1);
    r = await rig({ users: [user], broker: { timeouts: { requestMs: 300 } } });
    const account = accountRef(user);
    expect((await r.broker.listAccounts(user.name)).ok).toBe(true);
    r.sim.faults.endpoints = ['order/placeorder'];
    r.sim.faults.timeoutRate = 1;
    const placed = await r.broker.placeOrder(restingBuy(account, 'tc.silent'));
    r.sim.faults.timeoutRate = 0;
    expect(placed).toMatchObject({ ok: false, error: { kind: 'outcome_unknown', reason: 'Timeout' } });
    expect(r.sim.requests.count({ endpoint: 'order/placeorder' })).toBe(1);
    const found = await r.broker.findOrder(account, 'tc.silent');
    expect(found).toMatchObject({ ok: true, value: { clientOrderId: 'tc.silent', status: 'working' } });
    // Asked again with the same client order id, the adapter settles by lookup instead of resending.
    const again = await r.broker.placeOrder(restingBuy(account, 'tc.silent'));
    expect(again).toMatchObject({ ok: true, value: { orderId: found.ok ? found.value?.orderId : '' } });
    expect(r.sim.requests.count({ endpoint: 'order/placeorder' })).toBe(1);
  });

  it('when the pool is full, closes the socket idle the longest to open a new one', async () => {
    const users = [makeUser(10, 1), makeUser(11, 1), makeUser(12, 1)];
    r = await rig({ users, broker: { pool: { maxSockets: 2 } } });
    for (const user of users) {
      expect((await r.broker.listAccounts(user.name)).ok).toBe(true);
    }
    await until(() => r!.sim.sockets(users[0]!.name) === 0);
    expect(r.sim.sockets(users[1]!.name)).toBe(1);
    expect(r.sim.sockets(users[2]!.name)).toBe(1);
    expect(r.broker.transportStats().openSockets).toBe(2);
  });

  it('falls back to REST when no socket can be opened', async () => {
    const user = makeUser(8, 1);
    r = await rig({ users: [user], broker: { pool: { maxSockets: 0 } } });
    const account = accountRef(user);
    expect((await r.broker.positions(account)).ok).toBe(true);
    expect(r.sim.requests.count({ transport: 'ws' })).toBe(0);
    expect(r.sim.requests.count({ transport: 'rest' })).toBe(2);
  });

  it('100 credentials × 10 accounts place one bracket each: 1000 order requests, no login, one socket per credential', async () => {
    const users = Array.from({ length: 100 }, (_, i) => makeUser(100 + i, 10));
    r = await rig({ users });
    r.sim.setPrice('MNQ', 21500);
    const results: Promise<BrokerResult<PlacedBracket>>[] = [];
    for (const user of users) {
      for (const a of user.accounts) {
        results.push(
          r.broker.placeBracket({
            account: { credentialId: user.name, brokerAccountId: String(a.id) },
            clientOrderId: `tc.fan.${a.id}`,
            contract: 'MNQH6',
            side: 'buy',
            quantity: 1,
            type: 'market',
            takeProfit: { kind: 'price', price: 21520 },
            stopLoss: { kind: 'price', price: 21490 },
          }),
        );
      }
    }
    const settled = await Promise.all(results);
    const failed = settled.filter((x) => !x.ok);
    expect(failed).toEqual([]);
    expect(r.sim.requests.count({ endpoint: 'order/placeoso' })).toBe(1000);
    expect(r.sim.requests.count({ endpoint: 'auth/accesstokenrequest' })).toBe(0);
    expect(r.sim.requests.count({ endpoint: 'auth/renewaccesstoken' })).toBe(0);
    for (const user of users) {
      expect(r.sim.sockets(user.name)).toBeLessThanOrEqual(1);
      expect(r.broker.transportStats().socketsOpened.get(user.name)).toBe(1);
      for (const a of user.accounts) {
        const entries = r.sim.orders(a.id).filter((o) => o.clOrdId === `tc.fan.${a.id}`);
        expect(entries).toHaveLength(1);
        expect(entries[0]?.isAutomated).toBe(true);
      }
    }
    expect(r.sim.requests.count({ endpoint: 'account/list' })).toBe(100);
  }, 60_000);
});
