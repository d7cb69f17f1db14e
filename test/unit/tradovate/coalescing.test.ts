import { afterEach, describe, expect, it } from 'vitest';
import type { AccountRef, OrderRequest } from '../../../src/brokers/broker.js';
import { TradovateBroker } from '../../../src/brokers/tradovate/index.js';
import {
  type FakeAnswer,
  type FakeRoute,
  fakeVenue,
  MemoryCredentialStore,
  MemoryLogger,
  REST_URL,
} from './fake-venue.js';

const NOW = Date.parse('2026-01-05T15:00:00Z');
const IDS = [700001, 700002, 700003, 700004];
/** The accounts of a second credential, `c2`. */
const OTHER = [800001, 800002];
const ref = (id: number, credentialId = 'c1'): AccountRef => ({ credentialId, brokerAccountId: String(id) });
const MNQH6 = 3100001;

const position = (accountId: number, netPos: number, id = 710_000_000 + accountId) => ({
  id,
  accountId,
  contractId: MNQH6,
  netPos,
  netPrice: 21500,
});

const order = (id: number, accountId: number, ordStatus = 'Working') => ({
  id,
  accountId,
  contractId: MNQH6,
  action: 'Sell',
  ordStatus,
});

/** Ids asked for by each call to an endpoint (`masterids` or `masterid`). */
function asked(venue: ReturnType<typeof fakeVenue>, endpoint: string): number[][] {
  return venue.calls
    .filter((c) => c.endpoint === endpoint)
    .map((c) =>
      (c.query.get('masterids') ?? c.query.get('masterid') ?? '')
        .split(',')
        .map(Number)
        .sort((a, b) => a - b),
    );
}

/** An answer held back until the test lets it go. */
function held(): { route: (answer: () => FakeAnswer) => Promise<FakeAnswer>; release: () => void } {
  const waiting: (() => void)[] = [];
  return {
    route: (answer) => new Promise((resolve) => waiting.push(() => resolve(answer()))),
    release: () => {
      for (const go of waiting.splice(0)) go();
    },
  };
}

function setup(
  routes: Record<string, FakeRoute>,
  accounts: readonly number[] = IDS,
  coalesce: { readsMs?: number; strategyLinksMs?: number } = {},
) {
  const venue = fakeVenue({
    'account/list': (c) => ({
      body: (c.token === 't2' ? OTHER : accounts).map((id) => ({
        id,
        name: `DEMO${id}`,
        userId: c.token === 't2' ? 5002 : 5001,
        active: true,
      })),
    }),
    'contract/item': (c) => ({
      body: { id: Number(c.query.get('id')), name: 'MNQH6', contractMaturityId: 1 },
    }),
    ...routes,
  });
  const store = new MemoryCredentialStore();
  store.secrets.set('c1', { accessToken: 't1', expiresAt: new Date(NOW + 3_600_000).toISOString() });
  store.secrets.set('c2', { accessToken: 't2', expiresAt: new Date(NOW + 3_600_000).toISOString() });
  const log = new MemoryLogger();
  const broker = new TradovateBroker({
    restUrl: REST_URL,
    wsUrl: 'ws://127.0.0.1:9/unused',
    credentials: store,
    log,
    fetch: venue.fetch,
    clock: { now: () => NOW, sleep: async () => {} },
    pool: { maxSockets: 0 },
    limits: { perSecond: 1000, perMinute: 10_000 },
    coalesce,
  });
  return { venue, broker, log };
}

describe('Tradovate read coalescing per credential', () => {
  let broker: TradovateBroker | undefined;
  afterEach(async () => {
    await broker?.close();
    broker = undefined;
  });

  it('four concurrent positions reads of one credential send one position/list, each account getting only its own rows', async () => {
    const t = setup(
      {
        // The list holds every account's positions, and here a stranger's too: none may leak.
        'position/list': () => ({
          body: [...IDS.map((id, i) => position(id, i + 1)), position(999999, -7)],
        }),
      },
      IDS,
      // Sent when the fourth account asks, not when a window ends.
      { readsMs: 60_000 },
    );
    broker = t.broker;
    expect((await t.broker.listAccounts('c1')).ok).toBe(true);
    const results = await Promise.all(IDS.map((id) => t.broker.positions(ref(id))));
    expect(t.venue.calls.map((c) => c.endpoint)).toEqual(['account/list', 'position/list', 'contract/item']);
    for (const [i, r] of results.entries()) {
      expect(r).toEqual({
        ok: true,
        value: [
          { brokerAccountId: String(IDS[i]), contract: 'MNQH6', netQuantity: i + 1, averagePrice: 21500 },
        ],
      });
    }
  });

  it('reads of two credentials never share a request: one position/list each, with its own token', async () => {
    const t = setup({
      // A venue that wrongly lists both users' positions to each: the filter by account still holds.
      'position/list': () => ({ body: [...IDS, ...OTHER].map((id) => position(id, id % 10)) }),
    });
    broker = t.broker;
    expect((await t.broker.listAccounts('c1')).ok).toBe(true);
    expect((await t.broker.listAccounts('c2')).ok).toBe(true);
    const refs = [...IDS.map((id) => ref(id)), ...OTHER.map((id) => ref(id, 'c2'))];
    const results = await Promise.all(refs.map((a) => t.broker.positions(a)));
    const lists = t.venue.calls.filter((c) => c.endpoint === 'position/list');
    expect(lists.map((c) => c.token).sort()).toEqual(['t1', 't2']);
    for (const [i, r] of results.entries()) {
      expect(r.ok && r.value.map((p) => p.brokerAccountId)).toEqual([refs[i]!.brokerAccountId]);
    }
    // An account of one credential asked through the other is refused before anything is sent.
    const crossed = await t.broker.positions(ref(800001, 'c1'));
    expect(crossed).toMatchObject({ ok: false, error: { kind: 'rejected', reason: 'Unauthorized' } });
    expect(t.venue.calls.filter((c) => c.endpoint === 'position/list')).toHaveLength(2);
  });

  it('when the venue refuses position/list, reads the accounts asked with ldeps, and a read that waited on the list asks for itself', async () => {
    const gate = held();
    const t = setup({
      'position/list': () => ({ status: 404, body: 'Not found' }),
      'position/ldeps': (c) =>
        gate.route(() => ({
          body: (c.query.get('masterids') ?? '').split(',').map((id) => position(Number(id), 1)),
        })),
      'position/deps': (c) => ({ body: [position(Number(c.query.get('masterid')), 5)] }),
    });
    broker = t.broker;
    expect((await t.broker.listAccounts('c1')).ok).toBe(true);
    const first = [t.broker.positions(ref(700001)), t.broker.positions(ref(700002))];
    await until(() => t.venue.count('position/ldeps') === 1);
    // Expected a list when it left, so it waits for it; the answer only covers the two asked.
    const late = t.broker.positions(ref(700003));
    gate.release();
    const results = await Promise.all([...first, late]);
    expect(results.map((r) => r.ok && r.value.map((p) => [p.brokerAccountId, p.netQuantity]))).toEqual([
      [['700001', 1]],
      [['700002', 1]],
      [['700003', 5]],
    ]);
    expect(asked(t.venue, 'position/ldeps')).toEqual([[700001, 700002]]);
    expect(t.venue.count('position/list')).toBe(1);
  });

  it('the only account of a credential reads with position/deps, without waiting for anyone', async () => {
    // A window this long would time the test out if the read waited for it.
    const t = setup({ 'position/deps': () => ({ body: [position(700001, 2)] }) }, [700001], {
      readsMs: 60_000,
    });
    broker = t.broker;
    const r = await t.broker.positions(ref(700001));
    expect(r.ok && r.value.map((p) => p.netQuantity)).toEqual([2]);
    expect(t.venue.calls.map((c) => c.endpoint).slice(0, 2)).toEqual(['account/list', 'position/deps']);
  });

  it('a later read of another account shares the position/list already on its way', async () => {
    const gate = held();
    const t = setup({
      'position/list': () => gate.route(() => ({ body: [position(700001, 1), position(700003, -2)] })),
    });
    broker = t.broker;
    expect((await t.broker.listAccounts('c1')).ok).toBe(true);
    const first = t.broker.positions(ref(700001));
    await until(() => t.venue.count('position/list') === 1);
    const others = [t.broker.positions(ref(700001)), t.broker.positions(ref(700003))];
    gate.release();
    const [a, again, c] = await Promise.all([first, ...others]);
    expect(t.venue.count('position/list')).toBe(1);
    expect(again).toEqual(a);
    expect(a).toMatchObject({ ok: true, value: [{ brokerAccountId: '700001', netQuantity: 1 }] });
    expect(c).toMatchObject({ ok: true, value: [{ brokerAccountId: '700003', netQuantity: -2 }] });
  });

  it('a read made after a mutation of the account is sent anew, never answered by a request sent before it', async () => {
    const gate = held();
    let netPos = 0;
    const t = setup({
      'position/list': () => {
        const at = netPos;
        return gate.route(() => ({ body: [position(700001, at), position(700002, 3)] }));
      },
      'order/placeorder': () => {
        netPos = 1;
        return { body: { orderId: 42 } };
      },
    });
    broker = t.broker;
    expect((await t.broker.listAccounts('c1')).ok).toBe(true);
    const before = t.broker.positions(ref(700001));
    await until(() => t.venue.count('position/list') === 1);
    const placed = await t.broker.placeOrder({
      account: ref(700001),
      clientOrderId: 'tc.s1.a1.e0',
      contract: 'MNQH6',
      side: 'buy',
      quantity: 1,
      type: 'market',
    } satisfies OrderRequest);
    expect(placed.ok).toBe(true);
    // Another account, untouched by the mutation, may still share the request on its way.
    const other = t.broker.positions(ref(700002));
    const after = t.broker.positions(ref(700001));
    await until(() => t.venue.count('position/list') === 2);
    gate.release();
    expect(await before).toEqual({ ok: true, value: [] });
    expect(await after).toMatchObject({ ok: true, value: [{ brokerAccountId: '700001', netQuantity: 1 }] });
    expect(await other).toMatchObject({ ok: true, value: [{ brokerAccountId: '700002', netQuantity: 3 }] });
    expect(t.venue.count('position/list')).toBe(2);
  });

  it('working orders of several accounts: one order/ldeps, one orderVersion/ldeps, one command/ldeps, each account seeing only its orders', async () => {
    const three = IDS.slice(0, 3);
    const t = setup(
      {
        'order/ldeps': () => ({
          body: [
            order(310000011, 700001),
            order(310000012, 700001, 'Filled'),
            order(310000021, 700002),
            order(310000031, 700003),
            order(310000091, 888888),
          ],
        }),
        'orderversion/ldeps': (c) => ({
          body: (c.query.get('masterids') ?? '').split(',').map((id) => ({
            id: Number(id),
            orderId: Number(id),
            orderQty: 1,
            orderType: 'Limit',
            price: 21520,
          })),
        }),
        'command/ldeps': (c) => ({
          body: (c.query.get('masterids') ?? '').split(',').map((id) => ({
            id: Number(id),
            orderId: Number(id),
            clOrdId: `tc.${id}`,
            commandType: 'New',
          })),
        }),
      },
      three,
    );
    broker = t.broker;
    expect((await t.broker.listAccounts('c1')).ok).toBe(true);
    const results = await Promise.all(three.map((id) => t.broker.workingOrders(ref(id))));
    const ids = results.map((r) =>
      r.ok ? r.value.map((o) => [o.orderId, o.brokerAccountId, o.clientOrderId]) : r.error,
    );
    expect(ids).toEqual([
      [['310000011', '700001', 'tc.310000011']],
      [['310000021', '700002', 'tc.310000021']],
      [['310000031', '700003', 'tc.310000031']],
    ]);
    expect(t.venue.count('order/ldeps')).toBe(1);
    expect(t.venue.count('order/list')).toBe(0);
    expect(asked(t.venue, 'orderversion/ldeps')).toEqual([[310000011, 310000021, 310000031]]);
    expect(asked(t.venue, 'command/ldeps')).toEqual([[310000011, 310000021, 310000031]]);
  });

  it('accounts without orders in order/deps share one order/list fallback, filtered to each account', async () => {
    const two = IDS.slice(0, 2);
    const t = setup(
      {
        'order/ldeps': () => ({ body: [] }),
        'order/list': () => ({
          body: [order(310000011, 700001), order(310000021, 700002), order(310000091, 888888)],
        }),
        'orderversion/ldeps': (c) => ({
          body: (c.query.get('masterids') ?? '').split(',').map((id) => ({
            id: Number(id),
            orderId: Number(id),
            orderQty: 1,
            orderType: 'Stop',
            stopPrice: 21480,
          })),
        }),
        'command/ldeps': () => ({ body: [] }),
      },
      two,
    );
    broker = t.broker;
    expect((await t.broker.listAccounts('c1')).ok).toBe(true);
    const results = await Promise.all(two.map((id) => t.broker.workingOrders(ref(id))));
    expect(results.map((r) => r.ok && r.value.map((o) => [o.orderId, o.brokerAccountId]))).toEqual([
      [['310000011', '700001']],
      [['310000021', '700002']],
    ]);
    expect(t.venue.count('order/list')).toBe(1);
  });

  it('when the venue refuses ldeps, asks one deps per account and does not try ldeps again', async () => {
    const two = IDS.slice(0, 2);
    const t = setup(
      {
        'order/ldeps': () => ({ status: 404, body: 'Not found' }),
        'order/deps': (c) => ({
          body: [order(310000000 + Number(c.query.get('masterid')), Number(c.query.get('masterid')))],
        }),
        'orderversion/ldeps': (c) => ({
          body: (c.query.get('masterids') ?? '').split(',').map((id) => ({
            id: Number(id),
            orderId: Number(id),
            orderQty: 1,
            orderType: 'Limit',
            price: 21520,
          })),
        }),
        'command/ldeps': () => ({ body: [] }),
      },
      two,
    );
    broker = t.broker;
    expect((await t.broker.listAccounts('c1')).ok).toBe(true);
    for (let round = 0; round < 2; round++) {
      const results = await Promise.all(two.map((id) => t.broker.workingOrders(ref(id))));
      expect(results.map((r) => r.ok && r.value.map((o) => o.brokerAccountId))).toEqual([
        ['700001'],
        ['700002'],
      ]);
    }
    expect(t.venue.count('order/ldeps')).toBe(1);
    expect(t.venue.count('order/deps')).toBe(4);
  });

  it('a failed shared read fails every caller, and nothing is kept for the next one', async () => {
    let n = 0;
    const t = setup({
      'position/list': () =>
        ++n === 1 ? { status: 503, body: 'busy' } : { body: IDS.map((id) => position(id, 1)) },
    });
    broker = t.broker;
    expect((await t.broker.listAccounts('c1')).ok).toBe(true);
    const failed = await Promise.all(IDS.map((id) => t.broker.positions(ref(id))));
    for (const r of failed) expect(r).toMatchObject({ ok: false, error: { kind: 'unavailable' } });
    const again = await Promise.all(IDS.map((id) => t.broker.positions(ref(id))));
    for (const r of again) expect(r.ok).toBe(true);
    expect(t.venue.count('position/list')).toBe(2);
  });

  it('bracket strategies started together look their entry orders up in one orderStrategyLink/ldeps', async () => {
    let strategy = 0;
    const starts: (() => void)[] = [];
    const t = setup(
      {
        'contract/find': () => ({ body: { id: MNQH6, name: 'MNQH6', contractMaturityId: 1 } }),
        'product/find': () => ({ body: { id: 804, name: 'MNQ', tickSize: 0.25, valuePerPoint: 2 } }),
        'orderstrategy/startorderstrategy': (c) => {
          const id = ++strategy;
          const answer = {
            body: { orderStrategy: { id, accountId: c.body?.accountId, status: 'ActiveStrategy' } },
          };
          return new Promise<FakeAnswer>((resolve) => {
            starts.push(() => resolve(answer));
            // Answers come back in the reverse order of the starts, once all four are in.
            if (starts.length === IDS.length) for (const go of starts.reverse()) go();
          });
        },
        'orderstrategylink/ldeps': (c) => ({
          body: (c.query.get('masterids') ?? '').split(',').map((s) => ({
            id: Number(s) * 10,
            orderStrategyId: Number(s),
            orderId: 5000 + Number(s),
            label: 'Entry',
          })),
        }),
      },
      IDS,
      // Only the last start's answer may send the lookup, however slow the run.
      { strategyLinksMs: 60_000 },
    );
    broker = t.broker;
    expect((await t.broker.resolveContract('c1', 'MNQH6')).ok).toBe(true);
    const placed = await Promise.all(
      IDS.map((id) =>
        t.broker.placeBracket({
          account: ref(id),
          clientOrderId: `tc.sig.${id}.e0`,
          contract: 'MNQH6',
          side: 'buy',
          quantity: 1,
          type: 'market',
          takeProfit: { kind: 'offset', ticks: 80 },
          stopLoss: { kind: 'offset', ticks: 40 },
        }),
      ),
    );
    const byAccount = new Map(
      t.venue.calls
        .filter((c) => c.endpoint === 'orderstrategy/startorderstrategy')
        .map((c, i) => [Number(c.body?.accountId), 5001 + i]),
    );
    for (const [i, r] of placed.entries()) {
      expect(r).toMatchObject({
        ok: true,
        value: { entry: { orderId: String(byAccount.get(IDS[i]!)), brokerAccountId: String(IDS[i]) } },
      });
    }
    expect(t.venue.count('orderstrategylink/ldeps')).toBe(1);
    expect(t.venue.count('orderstrategylink/deps')).toBe(0);
  });
});

async function until(check: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}
