import { afterEach, describe, expect, it } from 'vitest';
import type { OrderRequest } from '../../../src/brokers/broker.js';
import { TradovateBroker } from '../../../src/brokers/tradovate/index.js';
import {
  type FakeRoute,
  fakeVenue,
  MemoryCredentialStore,
  MemoryLogger,
  REST_URL,
  tokenAnswer,
} from './fake-venue.js';

const NOW = Date.parse('2026-01-05T15:00:00Z');
const A = { credentialId: 'c1', brokerAccountId: '700001' };
const ORDER: OrderRequest = {
  account: A,
  clientOrderId: 'tc.s1.a1.e0',
  contract: 'MNQH6',
  side: 'buy',
  quantity: 1,
  type: 'market',
};

function setup(routes: Record<string, FakeRoute>, limits: Record<string, number> = {}) {
  const venue = fakeVenue({
    'account/list': () => ({ body: [{ id: 700001, name: 'DEMO700001', userId: 5001, active: true }] }),
    ...routes,
  });
  const store = new MemoryCredentialStore();
  store.secrets.set('c1', { accessToken: 't1', expiresAt: new Date(NOW + 3_600_000).toISOString() });
  const slept: number[] = [];
  const states: string[] = [];
  const log = new MemoryLogger();
  const broker = new TradovateBroker({
    restUrl: REST_URL,
    wsUrl: 'ws://127.0.0.1:9/unused',
    credentials: store,
    log,
    fetch: venue.fetch,
    clock: {
      now: () => NOW,
      sleep: async (ms) => {
        slept.push(ms);
      },
    },
    pool: { maxSockets: 0 },
    limits,
    timeouts: { requestMs: 200 },
    onCredentialState: (_id, state) => states.push(state),
  });
  return { venue, broker, slept, states, store, log };
}

describe('Tradovate call policies', () => {
  let broker: TradovateBroker | undefined;
  afterEach(async () => {
    await broker?.close();
  });

  it('waits out a penalty ticket and resends the identical request with the ticket added', async () => {
    let n = 0;
    const t = setup({
      'order/placeorder': () =>
        ++n === 1 ? { body: { 'p-ticket': 'tk-1', 'p-time': 7 } } : { body: { orderId: 42 } },
    });
    broker = t.broker;
    const r = await t.broker.placeOrder(ORDER);
    expect(r).toMatchObject({ ok: true, value: { orderId: '42' } });
    expect(t.slept).toEqual([7000]);
    const [first, second] = t.venue.calls.filter((c) => c.endpoint === 'order/placeorder');
    expect(second?.body).toEqual({ ...first?.body, 'p-ticket': 'tk-1' });
  });

  it('refuses a penalty longer than the cap without resending', async () => {
    const t = setup(
      { 'order/placeorder': () => ({ body: { 'p-ticket': 'tk-1', 'p-time': 600 } }) },
      { maxPenaltyWaitMs: 60_000 },
    );
    broker = t.broker;
    const r = await t.broker.placeOrder(ORDER);
    expect(r).toMatchObject({ ok: false, error: { kind: 'rate_limited', retryAfterMs: 600_000 } });
    expect(t.venue.count('order/placeorder')).toBe(1);
  });

  it('locks the credential on a captcha penalty, says so once, and sends nothing more for it', async () => {
    const t = setup({
      'order/placeorder': () => ({ body: { 'p-ticket': 'tk', 'p-time': 3600, 'p-captcha': true } }),
    });
    broker = t.broker;
    const first = await t.broker.placeOrder(ORDER);
    const second = await t.broker.placeOrder({ ...ORDER, clientOrderId: 'tc.s2.a1.e0' });
    const read = await t.broker.positions(A);
    for (const r of [first, second, read]) {
      expect(r).toMatchObject({
        ok: false,
        error: { kind: 'unavailable', reason: 'CredentialLocked', retryable: false },
      });
    }
    expect(t.venue.count('order/placeorder')).toBe(1);
    expect(t.slept).toEqual([]);
    expect(t.states).toEqual(['locked']);
  });

  it('cools the credential down after a 429: a query gets rate_limited, later calls are not sent', async () => {
    const t = setup({ 'position/deps': () => ({ status: 429 }) }, { cooldownMs: 3_600_000 });
    broker = t.broker;
    const r = await t.broker.positions(A);
    expect(r).toMatchObject({ ok: false, error: { kind: 'rate_limited', retryAfterMs: 3_600_000 } });
    const sent = t.venue.calls.length;
    const later = await t.broker.placeOrder(ORDER);
    expect(later).toMatchObject({ ok: false, error: { kind: 'rate_limited' } });
    expect(t.venue.calls.length).toBe(sent);
  });

  it('reports a 429 answer to a placement as an unknown outcome, not a rejection', async () => {
    const t = setup({ 'order/placeorder': () => ({ status: 429 }) });
    broker = t.broker;
    expect(await t.broker.placeOrder(ORDER)).toMatchObject({ ok: false, error: { kind: 'outcome_unknown' } });
  });

  it('renews once after a 401 and retries once; a second 401 marks the credential for re-authorization', async () => {
    let renewals = 0;
    const t = setup({
      'auth/renewaccesstoken': () => {
        renewals++;
        return tokenAnswer(`t${renewals + 1}`, new Date(NOW + 80 * 60_000));
      },
      'position/deps': (c) => (c.token === 't2' ? { body: [] } : { status: 401, body: 'Access is denied' }),
      'order/placeorder': () => ({ status: 401, body: 'Access is denied' }),
    });
    broker = t.broker;
    expect(await t.broker.positions(A)).toEqual({ ok: true, value: [] });
    expect(renewals).toBe(1);
    expect(t.store.secrets.get('c1')?.accessToken).toBe('t2');

    const r = await t.broker.placeOrder(ORDER);
    expect(r).toMatchObject({ ok: false, error: { kind: 'unavailable', reason: 'NeedsReauth' } });
    expect(t.venue.count('order/placeorder')).toBe(2);
    expect(t.states).toEqual(['needs_reauth']);
  });

  it('reports a mutation that timed out or met a 5xx as unknown, and never resends it', async () => {
    const t = setup({
      'order/placeorder': () => new Promise(() => {}),
      'order/placeoso': () => ({ status: 502, body: 'Bad gateway' }),
    });
    broker = t.broker;
    expect(await t.broker.placeOrder(ORDER)).toMatchObject({
      ok: false,
      error: { kind: 'outcome_unknown', reason: 'Timeout' },
    });
    expect(
      await t.broker.placeBracket({
        ...ORDER,
        clientOrderId: 'tc.s3',
        takeProfit: { kind: 'price', price: 21600 },
      }),
    ).toMatchObject({ ok: false, error: { kind: 'outcome_unknown', reason: 'ServerError' } });
    expect(t.venue.count('order/placeorder')).toBe(1);
    expect(t.venue.count('order/placeoso')).toBe(1);
  });

  it('passes a venue refusal through as rejected with the venue reason', async () => {
    const t = setup({
      'order/placeorder': () => ({
        body: { failureReason: 'InvalidPrice', failureText: 'Price is off the grid' },
      }),
    });
    broker = t.broker;
    expect(await t.broker.placeOrder(ORDER)).toEqual({
      ok: false,
      error: { kind: 'rejected', reason: 'InvalidPrice', message: 'Price is off the grid', retryable: false },
    });
  });

  it('returns the first answer for a repeated client order id without sending again', async () => {
    let n = 0;
    const t = setup({ 'order/placeorder': () => ({ body: { orderId: 100 + ++n } }) });
    broker = t.broker;
    const [a, b] = await Promise.all([t.broker.placeOrder(ORDER), t.broker.placeOrder(ORDER)]);
    const c = await t.broker.placeOrder(ORDER);
    expect([a, b, c].map((r) => r.ok && r.value.orderId)).toEqual(['101', '101', '101']);
    expect(t.venue.count('order/placeorder')).toBe(1);
  });

  it('marks every order automated and names the account by id and name', async () => {
    const t = setup({
      'order/placeoso': () => ({ body: { orderId: 1, oso1Id: 2, oso2Id: 3 } }),
    });
    broker = t.broker;
    const r = await t.broker.placeBracket({
      ...ORDER,
      takeProfit: { kind: 'price', price: 21520 },
      stopLoss: { kind: 'price', price: 21490 },
    });
    expect(r).toMatchObject({
      ok: true,
      value: { entry: { orderId: '1' }, takeProfitOrderId: '2', stopLossOrderId: '3' },
    });
    expect(t.venue.calls.find((c) => c.endpoint === 'order/placeoso')?.body).toEqual({
      accountSpec: 'DEMO700001',
      accountId: 700001,
      clOrdId: 'tc.s1.a1.e0',
      action: 'Buy',
      symbol: 'MNQH6',
      orderQty: 1,
      orderType: 'Market',
      isAutomated: true,
      bracket1: { action: 'Sell', orderType: 'Limit', price: 21520 },
      bracket2: { action: 'Sell', orderType: 'Stop', stopPrice: 21490 },
    });
  });

  it('resolves a contract once for concurrent callers of the same credential', async () => {
    const t = setup({
      'contract/find': async () => {
        await new Promise((resolve) => setTimeout(resolve, 10));
        return { body: { id: 3100001, name: 'MNQH6', contractMaturityId: 1 } };
      },
      'product/find': () => ({ body: { id: 804, name: 'MNQ', tickSize: 0.25, valuePerPoint: 2 } }),
    });
    broker = t.broker;
    const all = await Promise.all(
      ['MNQ', 'MNQ1!', 'CME_MINI:MNQ1!', 'MNQH6', 'MNQH2026'].map((s) => t.broker.resolveContract('c1', s)),
    );
    expect(all.map((r) => r.ok && r.value.name)).toEqual(['MNQH6', 'MNQH6', 'MNQH6', 'MNQH6', 'MNQH6']);
    expect(t.venue.count('contract/find')).toBe(1);
    expect(t.venue.calls.find((c) => c.endpoint === 'contract/find')?.query.get('name')).toBe('MNQH6');
  });

  it('falls back to contract/suggest when the computed front month is not found', async () => {
    const t = setup({
      'contract/suggest': () => ({
        body: [
          { id: 1, name: 'MNQM6', contractMaturityId: 1 },
          { id: 2, name: 'MNQU6', contractMaturityId: 2 },
        ],
      }),
      'product/find': () => ({ status: 404, body: 'Not found' }),
    });
    broker = t.broker;
    const r = await t.broker.resolveContract('c1', 'MNQ');
    // The product table of the domain stands in when the venue has no product record.
    expect(r).toEqual({
      ok: true,
      value: { id: '1', name: 'MNQM6', root: 'MNQ', tickSize: 0.25, pointValue: 2 },
    });
    expect(await t.broker.resolveContract('c1', 'MNQZ9')).toMatchObject({
      ok: false,
      error: { kind: 'rejected', reason: 'InvalidContract' },
    });
  });

  it('starts a bracket strategy with signed offsets in ticks times the tick size for fill-relative legs', async () => {
    const t = setup({
      'contract/find': () => ({ body: { id: 3100001, name: 'MNQH6', contractMaturityId: 1 } }),
      'product/find': () => ({ body: { id: 804, name: 'MNQ', tickSize: 0.25, valuePerPoint: 2 } }),
      'orderstrategy/startorderstrategy': () => ({
        body: { orderStrategy: { id: 9, status: 'ActiveStrategy' } },
      }),
      'orderstrategylink/deps': () => ({
        body: [{ id: 1, orderStrategyId: 9, orderId: 77, label: 'Entry' }],
      }),
    });
    broker = t.broker;
    const r = await t.broker.placeBracket({
      ...ORDER,
      side: 'sell',
      quantity: 2,
      takeProfit: { kind: 'offset', ticks: 12 },
      stopLoss: { kind: 'offset', ticks: 6 },
    });
    expect(r).toMatchObject({ ok: true, value: { entry: { orderId: '77', clientOrderId: 'tc.s1.a1.e0' } } });
    // Resolved once for the tick size, then cached for the lane.
    await t.broker.placeBracket({
      ...ORDER,
      clientOrderId: 'tc.s9',
      takeProfit: { kind: 'offset', ticks: 4 },
    });
    expect(t.venue.count('contract/find')).toBe(1);
    const body = t.venue.calls.find((c) => c.endpoint === 'orderstrategy/startorderstrategy')?.body;
    expect(body).toMatchObject({
      accountId: 700001,
      accountSpec: 'DEMO700001',
      symbol: 'MNQH6',
      orderStrategyTypeId: 2,
      action: 'Sell',
      uuid: 'tc.s1.a1.e0',
      isAutomated: true,
    });
    expect(JSON.parse(String(body?.params))).toEqual({
      entryVersion: { orderQty: 2, orderType: 'Market', clOrdId: 'tc.s1.a1.e0', isAutomated: true },
      brackets: [{ qty: 2, profitTarget: -3, stopLoss: 1.5, trailingStop: false }],
    });
  });
});
