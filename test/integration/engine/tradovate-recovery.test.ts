/**
 * Start-up recovery of a large fan-out over the Tradovate adapter and the simulator: a previous
 * process journaled 200 entries and sent half of them before it stopped. Recovering an hour later
 * settles every row (the sent ones reconciled with the venue's order, the others expired) with the
 * accounts looked up side by side, so each credential's look-ups share requests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientOrderId } from '../../../src/domain/orders.js';
import { laterEngine } from '../../helpers/app.js';
import { startTradovateApp, type TradovateApp } from '../../helpers/tradovate-app.js';

describe('recovery of a 200-account Tradovate fan-out', () => {
  let t: TradovateApp;
  beforeAll(async () => {
    t = await startTradovateApp({
      driver: 'pglite',
      credentials: 50,
      accountsPerCredential: 4,
    });
    t.sim.setPrice('MNQ', 21500);
  }, 120_000);
  afterAll(async () => t?.stop());

  it('an hour later, what was sent is reconciled and what was not expires, with each credential looked up together', async () => {
    const broker = t.app.brokers.get('tradovate')!;
    const accounts = await t.app.stores.accounts.listAll();
    const recorded = await t.app.stores.signals.insertIfNew({
      dedupKey: 'recovery-200',
      source: 'command',
      principal: { platform: 'discord', userId: '1' },
      body: { action: 'buy', symbol: 'MNQ', quantity: 1, entry: { type: 'market' }, target: { all: true } },
    });
    const signalId = recorded.signal.id;
    await t.app.stores.signals.setStatus(signalId, 'executing');
    const rows = await t.app.stores.journal.insertMany(
      accounts.map((a) => ({
        signalId,
        accountId: a.id,
        clientOrderId: clientOrderId(signalId, a.id, 'entry', 0),
        leg: 'entry' as const,
        seq: 0,
        state: 'planned' as const,
        plan: { contract: 'MNQ', side: 'buy' as const, quantity: 1 },
      })),
    );
    // The stopped process sent every other account's entry and wrote nothing after.
    const contract = await broker.resolveContract(accounts[0]!.credentialId, 'MNQ');
    if (!contract.ok) throw new Error(contract.error.message);
    const sent = new Map<string, string>();
    for (const [i, a] of accounts.entries()) {
      if (i % 2 === 1) continue;
      const placed = await broker.placeOrder({
        account: { credentialId: a.credentialId, brokerAccountId: a.brokerAccountId },
        clientOrderId: clientOrderId(signalId, a.id, 'entry', 0),
        contract: contract.value.name,
        side: 'buy',
        quantity: 1,
        type: 'market',
      });
      if (!placed.ok) throw new Error(placed.error.message);
      sent.set(a.id, placed.value.orderId);
    }
    t.sim.resetCounters();

    const later = laterEngine(t, 3_600_000);
    const result = await later.recover(new Map(accounts.map((a) => [a.id, a])));

    expect(result).toEqual({ resumed: 0, expired: accounts.length - sent.size });
    const after = new Map((await t.app.stores.journal.listBySignal(signalId)).map((r) => [r.accountId, r]));
    for (const row of rows) {
      const orderId = sent.get(row.accountId);
      expect(after.get(row.accountId)).toMatchObject(
        orderId
          ? { state: 'reconciled', brokerOrderIds: [orderId] }
          : { state: 'rejected', reason: expect.stringMatching(/^expired/) },
      );
    }
    expect(await t.app.stores.journal.listNonTerminal()).toEqual([]);
    // Nothing was sent again.
    expect(t.sim.requests.count({ endpoint: 'order/placeorder' })).toBe(0);
    // The accounts of a credential share their order reads (about two per credential: the accounts'
    // orders, and the order list for those with none); looked up one by one, it was 300.
    const orderReads =
      t.sim.requests.count({ endpoint: 'order/deps' }) +
      t.sim.requests.count({ endpoint: 'order/ldeps' }) +
      t.sim.requests.count({ endpoint: 'order/list' });
    expect(orderReads).toBeLessThan(accounts.length);
  }, 120_000);
});
