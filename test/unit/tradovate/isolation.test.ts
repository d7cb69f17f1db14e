import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { TradovateBroker } from '../../../src/brokers/tradovate/index.js';
import { type FakeRoute, fakeVenue, MemoryCredentialStore, MemoryLogger, REST_URL } from './fake-venue.js';

function fixture(name: string): unknown {
  return JSON.parse(readFileSync(new URL(`../../fixtures/tradovate/${name}.json`, import.meta.url), 'utf8'));
}

const NOW = Date.parse('2026-01-05T15:00:00Z');
const A = { credentialId: 'c1', brokerAccountId: '700001' };

const common: Record<string, FakeRoute> = {
  'account/list': () => ({ body: fixture('account-list') }),
  'orderversion/ldeps': () => ({ body: fixture('order-versions') }),
  'command/ldeps': () => ({ body: fixture('commands') }),
  'contract/item': (c) => ({ body: { id: Number(c.query.get('id')), name: 'MNQH6', contractMaturityId: 1 } }),
};

function setup(routes: Record<string, FakeRoute>) {
  const venue = fakeVenue({ ...common, ...routes });
  const store = new MemoryCredentialStore();
  store.secrets.set('c1', { accessToken: 't1', expiresAt: new Date(NOW + 3_600_000).toISOString() });
  const broker = new TradovateBroker({
    restUrl: REST_URL,
    wsUrl: 'ws://127.0.0.1:9/unused',
    credentials: store,
    log: new MemoryLogger(),
    fetch: venue.fetch,
    clock: { now: () => NOW, sleep: async () => {} },
    pool: { maxSockets: 0 },
  });
  return { venue, broker };
}

describe('Tradovate account isolation', () => {
  let broker: TradovateBroker | undefined;
  afterEach(async () => {
    await broker?.close();
  });

  it('drops other accounts’ orders when order/deps is empty and the order/list fallback returns every account', async () => {
    const t = setup({
      'order/deps': () => ({ body: [] }),
      'order/list': () => ({ body: fixture('order-list-mixed') }),
    });
    broker = t.broker;
    const r = await t.broker.workingOrders(A);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.map((o) => o.orderId).sort()).toEqual(['310000011', '310000012']);
    expect(r.value.every((o) => o.brokerAccountId === '700001')).toBe(true);
    expect(t.venue.count('order/list')).toBe(1);
    // Versions and commands are only asked for the account's own working orders.
    const asked = t.venue.calls.find((c) => c.endpoint === 'orderversion/ldeps')?.query.get('masterids');
    expect(asked?.split(',').sort()).toEqual(['310000011', '310000012']);
    expect(r.value.find((o) => o.orderId === '310000011')).toMatchObject({
      clientOrderId: 'tc.sig1.a1.t1',
      type: 'limit',
      quantity: 1,
      price: 21520,
      status: 'working',
    });
  });

  it('also filters a deps answer that carries another account’s orders', async () => {
    const t = setup({ 'order/deps': () => ({ body: fixture('order-list-mixed') }) });
    broker = t.broker;
    const r = await t.broker.workingOrders(A);
    expect(r.ok && r.value.map((o) => o.brokerAccountId)).toEqual(['700001', '700001']);
    expect(t.venue.count('order/list')).toBe(0);
  });

  it('falls back to order/list when order/deps fails, and still filters it', async () => {
    const t = setup({
      'order/deps': () => ({ status: 404, body: 'Not found' }),
      'order/list': () => ({ body: fixture('order-list-mixed') }),
    });
    broker = t.broker;
    const r = await t.broker.workingOrders(A);
    expect(r.ok && r.value.map((o) => o.orderId).sort()).toEqual(['310000011', '310000012']);
  });

  it('shows only the account’s open positions', async () => {
    const t = setup({ 'position/deps': () => ({ body: fixture('positions') }) });
    broker = t.broker;
    const r = await t.broker.positions(A);
    expect(r).toEqual({
      ok: true,
      value: [{ brokerAccountId: '700001', contract: 'MNQH6', netQuantity: 2, averagePrice: 21500 }],
    });
  });

  it('never finds another account’s order by client order id', async () => {
    const t = setup({
      'order/deps': () => ({ body: [] }),
      'order/list': () => ({ body: fixture('order-list-mixed') }),
      'orderstrategy/deps': () => ({ body: [] }),
      'command/ldeps': () => ({
        body: [
          { id: 310000021, orderId: 310000021, clOrdId: 'tc.theirs', commandType: 'New' },
          { id: 310000031, orderId: 310000031, clOrdId: 'tc.theirs', commandType: 'New' },
        ],
      }),
    });
    broker = t.broker;
    expect(await t.broker.findOrder(A, 'tc.theirs')).toEqual({ ok: true, value: null });
  });

  it('refuses an account of another credential before sending anything about it', async () => {
    const t = setup({});
    broker = t.broker;
    const r = await t.broker.workingOrders({ credentialId: 'c1', brokerAccountId: '999999' });
    expect(r).toMatchObject({ ok: false, error: { kind: 'rejected', reason: 'Unauthorized' } });
    expect(t.venue.calls.map((c) => c.endpoint)).toEqual(['account/list']);
  });

  it('refuses to cancel another account’s order and sends no cancel', async () => {
    const t = setup({
      'order/item': () => ({
        body: { id: 310000021, accountId: 700002, action: 'Sell', ordStatus: 'Working' },
      }),
      'order/cancelorder': () => ({ body: { commandId: 1 } }),
    });
    broker = t.broker;
    const r = await t.broker.cancelOrder({ account: A, orderId: '310000021' });
    expect(r).toMatchObject({ ok: false, error: { kind: 'rejected' } });
    expect(t.venue.count('order/cancelorder')).toBe(0);
  });
});
