import { afterEach, describe, expect, it } from 'vitest';
import { accountRef, makeUser, type Rig, restingBuy, rig } from './harness.js';

const PLACEMENTS_MS = 60_000;
const ORDERS_MS = 120_000;

describe('Tradovate adapter memory: placements and remembered orders are let go of by age', () => {
  let r: Rig | undefined;
  afterEach(async () => {
    await r?.close();
    r = undefined;
  });

  it('a repeat within the window places nothing; past it the placement is forgotten, and an old order is cancelled after one ownership look-up', async () => {
    const alice = makeUser(40, 2);
    r = await rig({
      users: [alice],
      broker: { cache: { placementsMs: PLACEMENTS_MS, ordersMs: ORDERS_MS } },
    });
    r.sim.setPrice('MNQ', 21500);
    const account = accountRef(alice);

    const first = await r.broker.placeOrder(restingBuy(account, 'tc.cache.1'));
    expect(first.ok).toBe(true);
    if (!first.ok) return;
    r.clock.advance(PLACEMENTS_MS - 1_000);
    const repeat = await r.broker.placeOrder(restingBuy(account, 'tc.cache.1'));
    expect(repeat).toEqual(first);
    expect(r.sim.requests.count({ endpoint: 'order/placeorder' })).toBe(1);
    expect(r.broker.cacheStats()).toEqual({ placements: 1, orders: 1 });

    // Past the placement window: the next placement on the credential lets the first one go.
    r.clock.advance(2_000);
    const second = await r.broker.placeOrder(restingBuy(account, 'tc.cache.2'));
    expect(second.ok).toBe(true);
    expect(r.broker.cacheStats()).toEqual({ placements: 1, orders: 2 });

    // Past the order window: the first order's owner is no longer remembered, so cancelling it asks
    // the venue who owns it first, and another account of the credential still cannot touch it.
    r.clock.advance(ORDERS_MS - PLACEMENTS_MS);
    r.broker.forgetExpired();
    expect(r.broker.cacheStats()).toEqual({ placements: 0, orders: 1 });
    r.sim.resetCounters();
    const wrongAccount = await r.broker.cancelOrder({
      account: accountRef(alice, 1),
      orderId: first.value.orderId,
    });
    expect(wrongAccount.ok).toBe(false);
    if (!wrongAccount.ok) expect(wrongAccount.error.reason).toBe('UnknownOrder');
    const cancelled = await r.broker.cancelOrder({ account, orderId: first.value.orderId });
    expect(cancelled).toEqual({ ok: true, value: undefined });
    expect(r.sim.requests.count({ endpoint: 'order/item' })).toBe(2);
    expect(r.sim.requests.count({ endpoint: 'order/cancelorder' })).toBe(1);
  });

  it('a placement whose outcome is unknown outlives the window: a later repeat looks it up and places nothing', async () => {
    const alice = makeUser(43, 1);
    r = await rig({
      users: [alice],
      broker: { cache: { placementsMs: PLACEMENTS_MS, ordersMs: ORDERS_MS }, timeouts: { requestMs: 300 } },
    });
    r.sim.setPrice('MNQ', 21500);
    const account = accountRef(alice);
    expect((await r.broker.listAccounts(alice.name)).ok).toBe(true);
    // The venue places the order and its answer never comes.
    r.sim.faults.endpoints = ['order/placeorder'];
    r.sim.faults.timeoutRate = 1;
    const silent = await r.broker.placeOrder(restingBuy(account, 'tc.unknown.1'));
    r.sim.faults.timeoutRate = 0;
    expect(silent).toMatchObject({ ok: false, error: { kind: 'outcome_unknown' } });

    r.clock.advance(ORDERS_MS + 1_000);
    expect((await r.broker.placeOrder(restingBuy(account, 'tc.unknown.2'))).ok).toBe(true);
    r.broker.forgetExpired();
    const again = await r.broker.placeOrder(restingBuy(account, 'tc.unknown.1'));
    expect(again).toMatchObject({ ok: true, value: { clientOrderId: 'tc.unknown.1' } });
    expect(r.sim.requests.count({ endpoint: 'order/placeorder' })).toBe(2);
    expect(r.sim.orders(alice.accounts[0]!.id).filter((o) => o.clOrdId === 'tc.unknown.1')).toHaveLength(1);
  });

  it("the periodic sweep lets go of a credential that stopped trading; another credential's placing does not", async () => {
    const alice = makeUser(41, 1);
    const bob = makeUser(42, 1);
    r = await rig({
      users: [alice, bob],
      broker: { cache: { placementsMs: PLACEMENTS_MS, ordersMs: ORDERS_MS } },
    });
    r.sim.setPrice('MNQ', 21500);
    expect((await r.broker.placeOrder(restingBuy(accountRef(alice), 'tc.sweep.a'))).ok).toBe(true);
    r.clock.advance(ORDERS_MS + 1_000);
    expect((await r.broker.placeOrder(restingBuy(accountRef(bob), 'tc.sweep.b'))).ok).toBe(true);
    // Bob's placement pruned only Bob's credential.
    expect(r.broker.cacheStats()).toEqual({ placements: 2, orders: 2 });
    r.broker.forgetExpired();
    expect(r.broker.cacheStats()).toEqual({ placements: 1, orders: 1 });
  });
});
