/**
 * Order semantics through the engine on the paper exchange: entries with brackets, adding to a
 * position (DCA), reversing, flattening, risk gates, and a fan-out over 1,000 accounts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Principal, Signal } from '../../../src/index.js';
import { laterEngine, startTestApp, type TestApp } from '../../helpers/app.js';
import { addUser, type TestUser } from '../../helpers/fixtures.js';

const working = (t: TestApp, brokerAccountId: string) =>
  t.app.exchange.orders(brokerAccountId).filter((o) => o.status === 'working' || o.status === 'pending');
const net = (t: TestApp, brokerAccountId: string) =>
  t.app.exchange.positions(brokerAccountId).reduce((s, p) => s + p.netQuantity, 0);

describe('order semantics on the paper exchange', () => {
  let t: TestApp;
  let trader: TestUser;
  const principal: Principal = { platform: 'telegram', userId: '9001' };
  const run = async (text: string) => {
    const reply = await t.app.commands.runText(principal, text);
    if (reply.kind !== 'fanout') throw new Error(`expected a fan-out, got ${JSON.stringify(reply)}`);
    return reply.summary;
  };

  beforeAll(async () => {
    t = await startTestApp('pglite', { DEMO: 'off' });
    trader = await addUser(t.app, {
      platform: 'telegram',
      externalId: '9001',
      roles: ['trader'],
      accounts: 3,
    });
  });
  afterAll(async () => t.stop());

  it('an entry puts one take-profit and one stop at the fill ± the distances, sized to the entry', async () => {
    t.app.exchange.setPrice('MNQ', 21500);
    const s = await run('/buy MNQ 2 tp=20 sl=10');
    expect(s).toMatchObject({ accounts: 3, filled: 2 * 0 + 3 });
    for (const id of trader.brokerAccountIds) {
      expect(net(t, id)).toBe(2);
      const orders = working(t, id);
      expect(orders.map((o) => [o.type, o.side, o.quantity, o.price ?? o.stopPrice]).sort()).toEqual([
        ['limit', 'sell', 2, 21520],
        ['stop', 'sell', 2, 21490],
      ]);
    }
  });

  it('adding to the position leaves exactly one take-profit and one stop, sized to the whole position, priced from the new average', async () => {
    t.app.exchange.setPrice('MNQ', 21510);
    const s = await run('/buy MNQ 2 tp=20 sl=10');
    expect(s.filled).toBe(3);
    for (const id of trader.brokerAccountIds) {
      expect(net(t, id)).toBe(4);
      const orders = working(t, id);
      expect(orders).toHaveLength(2);
      // average of 2 @ 21500 and 2 @ 21510 = 21505
      expect(orders.map((o) => [o.type, o.quantity, o.price ?? o.stopPrice]).sort()).toEqual([
        ['limit', 4, 21525],
        ['stop', 4, 21495],
      ]);
    }
  });

  it('a stray extra take-profit is cancelled on the next add, never duplicated', async () => {
    const [first] = trader.brokerAccountIds;
    const contract = working(t, first!)[0]!.contract;
    t.app.exchange.placeOrder({
      accountId: first!,
      clientOrderId: 'manual-stray-tp',
      contract,
      side: 'sell',
      quantity: 1,
      type: 'limit',
      price: 21600,
    });
    expect(working(t, first!).filter((o) => o.type === 'limit')).toHaveLength(2);
    await run('/buy MNQ 1 tp=20 sl=10');
    const limits = working(t, first!).filter((o) => o.type === 'limit');
    expect(limits).toHaveLength(1);
    expect(limits[0]!.quantity).toBe(net(t, first!));
  });

  it('an opposite signal closes, then opens: never two positions, the old brackets gone', async () => {
    t.app.exchange.setPrice('MNQ', 21500);
    const s = await run('/sell MNQ 1 tp=20 sl=10');
    expect(s.filled).toBe(3);
    for (const id of trader.brokerAccountIds) {
      expect(t.app.exchange.positions(id).filter((p) => p.netQuantity !== 0)).toHaveLength(1);
      expect(net(t, id)).toBe(-1);
      expect(
        working(t, id)
          .map((o) => [o.type, o.side, o.quantity, o.price ?? o.stopPrice])
          .sort(),
      ).toEqual([
        ['limit', 'buy', 1, 21480],
        ['stop', 'buy', 1, 21510],
      ]);
    }
  });

  it('flatten cancels the working orders, then liquidates: flat with nothing working', async () => {
    const s = await run('/flatten MNQ');
    expect(s.flat).toBe(3);
    for (const id of trader.brokerAccountIds) {
      expect(net(t, id)).toBe(0);
      expect(working(t, id)).toEqual([]);
    }
  });

  it('a limit entry rests as working with its brackets pending', async () => {
    t.app.exchange.setPrice('MNQ', 21500);
    const s = await run('/buy MNQ 1 limit=21400 tp=@21450 sl=@21380');
    expect(s.working).toBe(3);
    t.app.exchange.setPrice('MNQ', 21400);
    for (const id of trader.brokerAccountIds) {
      expect(net(t, id)).toBe(1);
      expect(
        working(t, id)
          .map((o) => [o.type, o.price ?? o.stopPrice])
          .sort(),
      ).toEqual([
        ['limit', 21450],
        ['stop', 21380],
      ]);
    }
    await run('/flatten MNQ');
  });

  it('risk gates skip with reasons: disabled, max position, trading window, sizing', async () => {
    const [a, b, c] = trader.accountIds;
    await t.app.stores.accounts.update(a!, { enabled: false });
    await t.app.stores.accounts.update(b!, { maxPosition: 1 });
    await t.app.stores.accounts.update(c!, {
      tradingWindow: { timeZone: 'UTC', start: '00:00', end: '00:01' },
    });
    const reply = await t.app.commands.runText(principal, '/buy MNQ 2', { confirmToken: undefined });
    if (reply.kind !== 'fanout') throw new Error('expected a fan-out');
    const byAccount = new Map(reply.summary.outcomes.map((o) => [o.accountId, o]));
    expect(byAccount.get(a!)).toMatchObject({ kind: 'skipped', reason: expect.stringMatching(/^disabled/) });
    expect(byAccount.get(b!)).toMatchObject({
      kind: 'skipped',
      reason: expect.stringMatching(/^max_position/),
    });
    const inWindow = new Date().getUTCHours() === 0 && new Date().getUTCMinutes() === 0;
    if (!inWindow) {
      expect(byAccount.get(c!)).toMatchObject({ kind: 'skipped', reason: expect.stringMatching(/^window/) });
    }
    const reasons = reply.summary.skipped.map((r) => r.reason).sort();
    expect(reasons).toEqual(expect.arrayContaining(['disabled', 'max_position']));
    for (const id of trader.brokerAccountIds.slice(0, 2)) expect(net(t, id)).toBe(0);
    await t.app.stores.accounts.update(a!, { enabled: true, multiplier: 0.25 });
    await t.app.stores.accounts.update(c!, { tradingWindow: null });
    const sized = await t.app.commands.runText(principal, `/buy MNQ 1 account=${trader.externalId}-1`);
    expect(sized).toMatchObject({ kind: 'fanout', summary: { skipped: [{ reason: 'size', count: 1 }] } });
    // Gates met in the lane close the entry rows journaled up front: nothing is left open.
    expect(await t.app.stores.journal.listNonTerminal()).toEqual([]);
  });
});

describe('a fan-out to 1,000 accounts on the paper exchange', () => {
  let t: TestApp;
  let admin: TestUser;
  beforeAll(async () => {
    t = await startTestApp('pglite', { DEMO: 'off', CONFIRM_ABOVE_ACCOUNTS: '5000' });
    admin = await addUser(t.app, { platform: 'discord', externalId: '1', roles: ['admin'], accounts: 1000 });
  }, 120_000);
  afterAll(async () => t.stop());

  it('every account gets exactly one entry with its take-profit and stop, and every journal row ends terminal', async () => {
    const reply = await t.app.commands.runText(
      { platform: 'discord', userId: '1' },
      '/buy MNQ 1 tp=20 sl=10',
    );
    expect(reply).toMatchObject({ kind: 'fanout', summary: { accounts: 1000, filled: 1000, unknown: 0 } });
    for (const id of admin.brokerAccountIds) {
      expect(net(t, id)).toBe(1);
      expect(working(t, id)).toHaveLength(2);
      expect(t.app.exchange.orders(id).filter((o) => o.parentId === null)).toHaveLength(1);
    }
    expect(await t.app.stores.journal.listNonTerminal()).toEqual([]);
    if (reply.kind === 'fanout') {
      const rows = await t.app.stores.journal.listBySignal(reply.summary.signalId);
      expect(rows).toHaveLength(1000);
      expect(new Set(rows.map((r) => r.accountId)).size).toBe(1000);
      expect(rows.every((r) => r.state === 'acked')).toBe(true);
    }
  }, 120_000);
});

describe('alert deduplication', () => {
  let t: TestApp;
  let trader: TestUser;
  beforeAll(async () => {
    t = await startTestApp('pglite', { DEMO: 'off' });
    trader = await addUser(t.app, {
      platform: 'telegram',
      externalId: '3003',
      roles: ['trader'],
      accounts: 2,
    });
  });
  afterAll(async () => t.stop());

  const alert = {
    ticker: 'MNQ1!',
    action: 'buy',
    quantity: 1,
    takeProfit: { amount: 20 },
    stopLoss: { amount: 10 },
  };

  it('the same TradingView alert posted twice within a minute executes once, even across a minute boundary', async () => {
    const { alertDedupKeys, parseAlert } = await import('../../../src/index.js');
    const principal: Principal = { platform: 'telegram', userId: '3003' };
    const parsed = parseAlert(JSON.stringify(alert));
    if (!parsed.ok) throw new Error(parsed.error.message);
    const first = alertDedupKeys('tv-1', alert, new Date('2026-11-26T14:00:59.500Z'));
    // Same content, keys in another order, 1 s later: the next minute.
    const again = {
      stopLoss: { amount: 10 },
      takeProfit: { amount: 20 },
      quantity: 1,
      action: 'buy',
      ticker: 'MNQ1!',
    };
    const second = alertDedupKeys('tv-1', again, new Date('2026-11-26T14:01:00.500Z'));
    expect(second.dedupKey).not.toBe(first.dedupKey);
    const a = await t.app.commands.ownSignal(principal, parsed.value, { ...first, source: 'alert' });
    const b = await t.app.commands.ownSignal(principal, parsed.value, { ...second, source: 'alert' });
    expect(a).toMatchObject({ kind: 'fanout', duplicate: false, summary: { filled: 2 } });
    expect(b).toMatchObject({ kind: 'fanout', duplicate: true });
    for (const id of trader.brokerAccountIds) expect(net(t, id)).toBe(1);
    // A minute and more later the same alert is a new signal.
    const later = alertDedupKeys('tv-1', alert, new Date('2026-11-26T14:02:30.000Z'));
    const c = await t.app.commands.ownSignal(principal, parsed.value, { ...later, source: 'alert' });
    expect(c).toMatchObject({ kind: 'fanout', duplicate: false });
  });

  it('a signal sent longer ago than the freshness horizon is not executed, unless it already was', async () => {
    const { parseAlert, SIGNAL_FRESH_MS } = await import('../../../src/index.js');
    const principal: Principal = { platform: 'telegram', userId: '3003' };
    const parsed = parseAlert(JSON.stringify(alert));
    if (!parsed.ok) throw new Error(parsed.error.message);
    const before = trader.brokerAccountIds.map((id) => net(t, id));
    const signals = (await t.app.stores.signals.recentHeads(1000)).length;
    const stale = new Date(Date.now() - SIGNAL_FRESH_MS - 60_000);
    const late = await t.app.commands.ownSignal(principal, parsed.value, {
      dedupKey: 'late-1',
      source: 'alert',
      sentAt: stale,
    });
    expect(late).toMatchObject({ kind: 'error', code: 'late' });
    expect(late.kind === 'error' && late.message).toMatch(/^Not executed: this is 2 min old/);
    expect(trader.brokerAccountIds.map((id) => net(t, id))).toEqual(before);
    expect((await t.app.stores.signals.recentHeads(1000)).length).toBe(signals);

    // Executed while fresh, then delivered again late: a repeat, not a refusal.
    const fresh = await t.app.commands.ownSignal(principal, parsed.value, {
      dedupKey: 'late-2',
      source: 'alert',
    });
    expect(fresh).toMatchObject({ kind: 'fanout', duplicate: false });
    const again = await t.app.commands.ownSignal(principal, parsed.value, {
      dedupKey: 'late-2',
      source: 'alert',
      sentAt: stale,
    });
    expect(again).toMatchObject({ kind: 'fanout', duplicate: true });
  });

  it('an alert with its own id is keyed by it', async () => {
    const { alertDedupKeys } = await import('../../../src/index.js');
    const k1 = alertDedupKeys('tv-1', { ...alert, id: 'abc-1' }, new Date('2026-11-26T14:00:00Z'));
    const k2 = alertDedupKeys('tv-1', { ...alert, id: 'abc-1' }, new Date('2026-11-26T15:00:00Z'));
    expect(k1.dedupKey).toBe(k2.dedupKey);
  });
});

describe('recovery of signals a stopped process left behind', () => {
  let t: TestApp;
  let trader: TestUser;
  beforeAll(async () => {
    t = await startTestApp('pglite', { DEMO: 'off' });
    trader = await addUser(t.app, {
      platform: 'telegram',
      externalId: '4004',
      roles: ['trader'],
      accounts: 2,
    });
  });
  afterAll(async () => t.stop());
  const marketBuy = {
    action: 'buy',
    symbol: 'MNQ',
    quantity: 1,
    entry: { type: 'market' },
    target: {},
  } as const;
  /** A signal a stopped process had recorded and begun executing. */
  const begun = async (dedupKey: string, body: Signal = marketBuy) => {
    const { signal } = await t.app.stores.signals.insertIfNew({
      dedupKey,
      source: 'command',
      principal: { platform: 'telegram', userId: '4004' },
      body,
    });
    await t.app.stores.signals.setStatus(signal.id, 'executing');
    return signal;
  };

  it('a signal stopped before any order was journaled is marked failed, and an old unsent order expires', async () => {
    const { clientOrderId } = await import('../../../src/domain/orders.js');
    const signal = {
      action: 'buy' as const,
      symbol: 'MNQ',
      quantity: 1,
      entry: { type: 'market' as const },
      target: {},
    };
    const principal = { platform: 'telegram' as const, userId: '4004' };
    const stopped = await t.app.stores.signals.insertIfNew({
      dedupKey: 'stopped-1',
      source: 'command',
      principal,
      body: signal,
    });
    await t.app.stores.signals.setStatus(stopped.signal.id, 'executing');
    const old = await t.app.stores.signals.insertIfNew({
      dedupKey: 'old-1',
      source: 'command',
      principal,
      body: signal,
    });
    await t.app.stores.signals.setStatus(old.signal.id, 'executing');
    const [accountId] = trader.accountIds;
    await t.app.stores.journal.insertMany([
      {
        signalId: old.signal.id,
        accountId: accountId!,
        clientOrderId: clientOrderId(old.signal.id, accountId!, 'entry', 0),
        leg: 'entry',
        seq: 0,
        state: 'planned',
        plan: { contract: 'MNQ', side: 'buy', quantity: 1 },
      },
    ]);
    // A process started an hour later.
    const later = laterEngine(t, 3_600_000);
    const accounts = new Map((await t.app.stores.accounts.listAll()).map((a) => [a.id, a]));
    const result = await later.recover(accounts);
    expect(result).toEqual({ resumed: 0, expired: 1 });
    expect((await t.app.stores.signals.get(stopped.signal.id))?.status).toBe('failed');
    // The signal with a journal row was not taken for one stopped before journaling.
    expect((await t.app.stores.signals.get(old.signal.id))?.status).not.toBe('failed');
    const [row] = await t.app.stores.journal.listBySignal(old.signal.id);
    expect(row).toMatchObject({ state: 'rejected', reason: expect.stringMatching(/^expired/) });
    expect(t.app.exchange.allOrders()).toEqual([]);
  });

  it('a fan-out whose journal cannot be written sends nothing, and the failure is reported once', async () => {
    const { Engine } = await import('../../../src/engine/engine.js');
    const journal = t.app.stores.journal;
    const engine = new Engine({
      brokers: t.app.brokers,
      signals: t.app.stores.signals,
      journal: {
        insertMany: async () => {
          throw new Error('disk full');
        },
        updateMany: (u) => journal.updateMany(u),
        listBySignal: (id) => journal.listBySignal(id),
        hasEntries: (id) => journal.hasEntries(id),
        listNonTerminal: () => journal.listNonTerminal(),
      },
      settings: t.app.stores.settings,
      clock: { now: () => new Date() },
      log: t.logs.log,
    });
    const before = t.logs.lines.length;
    const targets = (await t.app.stores.accounts.listAll()).filter((a) => trader.accountIds.includes(a.id));
    expect(targets).toHaveLength(2);
    await expect(
      engine.submit(
        {
          signal: { action: 'buy', symbol: 'MNQ', quantity: 1, entry: { type: 'market' }, target: {} },
          source: 'command',
          principal: { platform: 'telegram', userId: '4004' },
          dedupKey: 'journal-down-1',
          receivedAt: new Date(),
        },
        targets,
      ),
    ).rejects.toThrow('disk full');
    expect(t.app.exchange.allOrders()).toEqual([]);
    expect(t.logs.lines.slice(before).filter((l) => /account program failed/.test(l))).toEqual([]);
  });

  it('a signal whose every row was settled but whose summary was never written is finished from its rows', async () => {
    const { clientOrderId } = await import('../../../src/domain/orders.js');
    const signal = await begun('unsummarized-1');
    const [a, b] = trader.accountIds as [string, string];
    const row = (accountId: string) => ({
      signalId: signal.id,
      accountId,
      clientOrderId: clientOrderId(signal.id, accountId, 'entry', 0),
      leg: 'entry' as const,
      seq: 0,
      plan: { contract: 'MNQZ6', side: 'buy' as const, quantity: 1 },
    });
    const [filled] = await t.app.stores.journal.insertMany([
      { ...row(a), state: 'planned' },
      { ...row(b), state: 'skipped', reason: 'max_position: 3 would exceed 2' },
    ]);
    await t.app.stores.journal.updateMany([{ id: filled!.id, state: 'acked', brokerOrderIds: ['77'] }]);

    const accounts = new Map((await t.app.stores.accounts.listAll()).map((x) => [x.id, x]));
    expect(await laterEngine(t, 1_000).recover(accounts)).toEqual({ resumed: 0, expired: 0 });
    const record = await t.app.stores.signals.get(signal.id);
    expect(record?.status).toBe('done');
    expect(record?.summary).toMatchObject({
      accounts: 2,
      filled: 1,
      skipped: [{ reason: 'max_position', count: 1 }],
      outcomes: expect.arrayContaining([
        expect.objectContaining({ accountId: a, kind: 'filled', quantity: 1, brokerOrderIds: ['77'] }),
      ]),
    });
    expect(t.app.exchange.allOrders()).toEqual([]);
  });

  it('a resumed entry the stopped run had sent is found before the maximum position is checked', async () => {
    const { clientOrderId } = await import('../../../src/domain/orders.js');
    const accountId = trader.accountIds[0]!;
    const account = (await t.app.stores.accounts.update(accountId, { maxPosition: 1 }))!;
    const signal = await begun('sent-before-stop-1');
    const cid = clientOrderId(signal.id, accountId, 'entry', 0);
    const broker = t.app.brokers.get('paper')!;
    const contract = await broker.resolveContract(account.credentialId, 'MNQ');
    if (!contract.ok) throw new Error(contract.error.message);
    await t.app.stores.journal.insertMany([
      {
        signalId: signal.id,
        accountId,
        clientOrderId: cid,
        leg: 'entry',
        seq: 0,
        state: 'planned',
        plan: { contract: contract.value.name, side: 'buy', quantity: 1 },
      },
    ]);
    // The stopped run had sent it: the account holds the one contract its maximum allows.
    const sent = await broker.placeBracket({
      account: { credentialId: account.credentialId, brokerAccountId: account.brokerAccountId },
      clientOrderId: cid,
      contract: contract.value.name,
      side: 'buy',
      quantity: 1,
      type: 'market',
    });
    expect(sent.ok).toBe(true);
    const placed = t.app.exchange.allOrders().length;

    const accounts = new Map((await t.app.stores.accounts.listAll()).map((a) => [a.id, a]));
    expect(await laterEngine(t, 1_000).recover(accounts)).toEqual({ resumed: 1, expired: 0 });
    const [row] = await t.app.stores.journal.listBySignal(signal.id);
    expect(row).toMatchObject({ state: 'acked', reason: null });
    expect(t.app.exchange.allOrders()).toHaveLength(placed);
    expect(t.app.exchange.positions(account.brokerAccountId).map((p) => p.netQuantity)).toEqual([1]);
    expect((await t.app.stores.signals.get(signal.id))?.summary).toMatchObject({ accounts: 1, filled: 1 });
    await t.app.stores.accounts.update(accountId, { maxPosition: null });
  });

  it('a resumed entry whose account cannot be read is left open for the next start, not closed as refused', async () => {
    const { clientOrderId } = await import('../../../src/domain/orders.js');
    const { Engine } = await import('../../../src/engine/engine.js');
    const { unavailable } = await import('../../../src/brokers/errors.js');
    const signal = await begun('unreadable-1');
    const accountId = trader.accountIds[1]!;
    await t.app.stores.journal.insertMany([
      {
        signalId: signal.id,
        accountId,
        clientOrderId: clientOrderId(signal.id, accountId, 'entry', 0),
        leg: 'entry',
        seq: 0,
        state: 'planned',
        plan: { contract: 'MNQZ6', side: 'buy', quantity: 1 },
      },
    ]);
    // The venue answers nothing about the account: whether the stopped run sent the entry is unknown.
    const paper = t.app.brokers.get('paper')!;
    const unreadable = new Proxy(paper, {
      get: (target, name, receiver) =>
        name === 'positions'
          ? async () => ({ ok: false, error: unavailable('Disconnected', 'the venue is not answering') })
          : Reflect.get(target, name, receiver),
    });
    const engine = new Engine({
      brokers: new Map([['paper', unreadable]]),
      signals: t.app.stores.signals,
      journal: t.app.stores.journal,
      settings: t.app.stores.settings,
      clock: { now: () => new Date(Date.now() + 1_000) },
      log: t.logs.log,
    });
    const accounts = new Map((await t.app.stores.accounts.listAll()).map((a) => [a.id, a]));
    await engine.recover(accounts);
    const [row] = await t.app.stores.journal.listBySignal(signal.id);
    expect(row?.state).toBe('planned');
    // The next start, with the venue answering, settles it.
    expect(await laterEngine(t, 2_000).recover(accounts)).toEqual({ resumed: 1, expired: 0 });
    expect((await t.app.stores.journal.listBySignal(signal.id))[0]?.state).toBe('acked');
  });

  it('a flatten resumed after a stop cancels what the stopped run had not, matching its steps by the order they act on', async () => {
    const { clientOrderId } = await import('../../../src/domain/orders.js');
    const principal = { platform: 'telegram' as const, userId: '4004' };
    const accountId = trader.accountIds[1]!;
    const account = (await t.app.stores.accounts.listAll()).find((a) => a.id === accountId)!;
    const entry = await t.app.commands.runText(principal, `/buy MNQ 1 tp=20 sl=10 account=${account.name}`);
    expect(entry).toMatchObject({ kind: 'fanout', summary: { filled: 1 } });
    const working = () =>
      t.app.exchange
        .orders(account.brokerAccountId)
        .filter((o) => o.status === 'working' || o.status === 'pending');
    const tp = working().find((o) => o.type === 'limit')!;
    const sl = working().find((o) => o.type === 'stop')!;
    const contract = t.app.exchange.positions(account.brokerAccountId)[0]!.contract;

    // A flatten a stopped process had begun: its first cancel (the take-profit) went through, its
    // second (the stop) was journaled and may not have been sent.
    const signal = await begun('flatten-stopped-1', {
      action: 'flatten',
      symbol: null,
      quantity: 0,
      entry: { type: 'market' },
      target: {},
    });
    t.app.exchange.cancelOrder(account.brokerAccountId, tp.id);
    const cancel = (seq: number, orderId: string) => ({
      signalId: signal.id,
      accountId,
      clientOrderId: clientOrderId(signal.id, accountId, 'cancel', seq),
      leg: 'cancel' as const,
      seq,
      plan: { contract, side: null, quantity: 1, targetOrderId: orderId },
    });
    const [, done] = await t.app.stores.journal.insertMany([
      {
        signalId: signal.id,
        accountId,
        clientOrderId: clientOrderId(signal.id, accountId, 'flatten', 0),
        leg: 'flatten',
        seq: 0,
        state: 'planned',
        plan: { contract: '*', side: null, quantity: 0 },
      },
      { ...cancel(1, tp.id), state: 'planned' },
      { ...cancel(2, sl.id), state: 'planned' },
    ]);
    await t.app.stores.journal.updateMany([{ id: done!.id, state: 'acked', brokerOrderIds: [tp.id] }]);

    const accounts = new Map((await t.app.stores.accounts.listAll()).map((a) => [a.id, a]));
    expect(await laterEngine(t, 1_000).recover(accounts)).toEqual({ resumed: 1, expired: 0 });
    expect(working()).toEqual([]);
    expect(t.app.exchange.positions(account.brokerAccountId).filter((p) => p.netQuantity !== 0)).toEqual([]);
    const rows = await t.app.stores.journal.listBySignal(signal.id);
    expect(rows.filter((r) => r.state !== 'acked')).toEqual([]);
    // The stop's cancel is the stopped run's second row, not a new one; the liquidation is new.
    expect(rows.map((r) => r.clientOrderId).sort()).toEqual(
      [cancel(1, tp.id), cancel(2, sl.id)]
        .map((c) => c.clientOrderId)
        .concat(
          clientOrderId(signal.id, accountId, 'flatten', 0),
          clientOrderId(signal.id, accountId, 'liquidate', 3),
        )
        .sort(),
    );
    expect((await t.app.stores.signals.get(signal.id))?.summary).toMatchObject({ accounts: 1, flat: 1 });
  });
});
