import { afterEach, describe, expect, it } from 'vitest';
import type { AccountRef } from '../../../src/brokers/broker.js';
import { makeUser, type Rig, rig, until } from './harness.js';

const refs = (user: ReturnType<typeof makeUser>): AccountRef[] =>
  user.accounts.map((a) => ({ credentialId: user.name, brokerAccountId: String(a.id) }));

describe('Tradovate read coalescing against the simulator', () => {
  let r: Rig | undefined;
  afterEach(async () => {
    await r?.close();
    r = undefined;
  });

  it('an entry on four accounts of one credential: one position/list, four strategy starts, one orderStrategyLink/ldeps, and each account sees only its own position', async () => {
    const user = makeUser(30, 4);
    r = await rig({ users: [user] });
    r.sim.setPrice('MNQ', 21500);
    const accounts = refs(user);
    expect((await r.broker.listAccounts(user.name)).ok).toBe(true);
    expect((await r.broker.resolveContract(user.name, 'MNQH6')).ok).toBe(true);
    r.sim.resetCounters();

    const before = await Promise.all(accounts.map((a) => r!.broker.positions(a)));
    expect(before).toEqual(accounts.map(() => ({ ok: true, value: [] })));
    expect(r.sim.requests.count({ endpoint: 'position/list' })).toBe(1);
    expect(r.sim.requests.count({ endpoint: 'position/deps' })).toBe(0);

    // A different size per account, so a position served to the wrong account would show.
    const placed = await Promise.all(
      accounts.map((account, i) =>
        r!.broker.placeBracket({
          account,
          clientOrderId: `tc.co.${i}`,
          contract: 'MNQH6',
          side: 'buy',
          quantity: i + 1,
          type: 'market',
          takeProfit: { kind: 'offset', ticks: 80 },
          stopLoss: { kind: 'offset', ticks: 40 },
        }),
      ),
    );
    expect(r.sim.requests.count({ endpoint: 'orderstrategy/startorderstrategy' })).toBe(4);
    expect(r.sim.requests.count({ endpoint: 'orderstrategylink/ldeps' })).toBe(1);
    expect(r.sim.requests.count({ endpoint: 'orderstrategylink/deps' })).toBe(0);
    for (const [i, account] of accounts.entries()) {
      const entry = r.sim
        .orders(Number(account.brokerAccountId))
        .find((o) => o.clOrdId === `tc.co.${i}` && o.parentId === undefined);
      expect(entry).toBeDefined();
      expect(placed[i]).toMatchObject({
        ok: true,
        value: { entry: { orderId: String(entry?.id), brokerAccountId: account.brokerAccountId } },
      });
    }

    // Read right after the placements: a fresh request, not the one from before them.
    const after = await Promise.all(accounts.map((a) => r!.broker.positions(a)));
    expect(r.sim.requests.count({ endpoint: 'position/list' })).toBe(2);
    for (const [i, account] of accounts.entries()) {
      expect(after[i]).toEqual({
        ok: true,
        value: [
          {
            brokerAccountId: account.brokerAccountId,
            contract: 'MNQH6',
            netQuantity: i + 1,
            averagePrice: expect.any(Number),
          },
        ],
      });
    }

    // Working orders: the bracket legs, each account's own, read in one round of ldeps.
    r.sim.resetCounters();
    const working = await Promise.all(accounts.map((a) => r!.broker.workingOrders(a)));
    for (const [i, account] of accounts.entries()) {
      const w = working[i];
      expect(w?.ok).toBe(true);
      if (!w?.ok) continue;
      expect(w.value.map((o) => o.type).sort()).toEqual(['limit', 'stop']);
      for (const o of w.value) {
        expect(o).toMatchObject({ brokerAccountId: account.brokerAccountId, quantity: i + 1, side: 'sell' });
      }
    }
    expect(r.sim.requests.count({ endpoint: 'order/ldeps' })).toBe(1);
    expect(r.sim.requests.count({ endpoint: 'orderversion/ldeps' })).toBe(1);
    expect(r.sim.requests.count({ endpoint: 'command/ldeps' })).toBe(1);
  });

  it('with user/syncrequest on, a started strategy names its entry from the event stream without asking', async () => {
    const user = makeUser(31, 2);
    r = await rig({ users: [user], broker: { pool: { sync: true } } });
    r.sim.setPrice('MNQ', 21500);
    const [account] = refs(user);
    expect((await r.broker.listAccounts(user.name)).ok).toBe(true);
    await until(() => r!.log.entries.some((e) => e.msg === 'user sync requested' && e.obj.status === 200));

    const placed = await r.broker.placeBracket({
      account: account!,
      clientOrderId: 'tc.sync.0',
      contract: 'MNQH6',
      side: 'sell',
      quantity: 1,
      type: 'market',
      takeProfit: { kind: 'offset', ticks: 40 },
      stopLoss: { kind: 'offset', ticks: 20 },
    });
    const entry = r.sim
      .orders(Number(account!.brokerAccountId))
      .find((o) => o.clOrdId === 'tc.sync.0' && o.parentId === undefined);
    expect(placed).toMatchObject({ ok: true, value: { entry: { orderId: String(entry?.id) } } });
    expect(r.sim.requests.count({ endpoint: 'orderstrategylink/deps' })).toBe(0);
    expect(r.sim.requests.count({ endpoint: 'orderstrategylink/ldeps' })).toBe(0);
  });

  it('a fill reported by the event stream stops a later read from sharing one sent before the fill', async () => {
    const user = makeUser(32, 2);
    r = await rig({
      users: [user],
      broker: { pool: { sync: true } },
      // Answers take a while; events do not wait for them.
      sim: { latency: (info) => (info.endpoint === 'position/list' ? 150 : 0) },
    });
    r.sim.setPrice('MNQ', 21500);
    const [account] = refs(user);
    expect((await r.broker.listAccounts(user.name)).ok).toBe(true);
    await until(() => r!.log.entries.some((e) => e.msg === 'user sync requested' && e.obj.status === 200));
    const limit = await r.broker.placeOrder({
      account: account!,
      clientOrderId: 'tc.fill.0',
      contract: 'MNQH6',
      side: 'buy',
      quantity: 1,
      type: 'limit',
      price: 21490,
    });
    expect(limit.ok).toBe(true);

    const first = r.broker.positions(account!);
    await until(() => r!.sim.requests.count({ endpoint: 'position/list' }) === 1);
    const seen = r.events.length;
    r.sim.setPrice('MNQ', 21480);
    await until(() => r!.events.slice(seen).some((e) => e.type === 'props' && e.entityType === 'position'));
    const second = r.broker.positions(account!);
    await until(() => r!.sim.requests.count({ endpoint: 'position/list' }) === 2);
    expect(await first).toEqual({ ok: true, value: [] });
    expect(await second).toMatchObject({
      ok: true,
      value: [{ brokerAccountId: account!.brokerAccountId, netQuantity: 1 }],
    });
  });
});
