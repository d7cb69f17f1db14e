/**
 * One reconciliation cycle against the Tradovate simulator, with the real adapter and the real
 * repositories, over accounts drifted in every way the reconciler knows: it repairs or reports each
 * case, and a second cycle finds nothing new.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccountRef } from '../../../src/brokers/broker.js';
import { createRepositories, type Repositories, SecretBox } from '../../../src/db/index.js';
import type { AccountRecord } from '../../../src/db/repositories/types.js';
import { clientOrderId } from '../../../src/domain/orders.js';
import type { Signal } from '../../../src/domain/types.js';
import { Engine } from '../../../src/engine/engine.js';
import type { ReconcileReport } from '../../../src/engine/reconciler.js';
import { createJobs, type Jobs } from '../../../src/jobs/index.js';
import { openTestDb, type TestDb, testDrivers } from '../../helpers/db.js';
import { captureLog } from '../../helpers/log.js';
import { RecordingNotifier } from '../../unit/jobs/fakes.js';
import { makeUser, type Rig, rig } from '../tradovate/harness.js';

const USER = makeUser(1, 6);
const CONTRACT = 'MNQH6';
/** The reconciler looks at the drift ten minutes after it was made: past every grace period. */
const later = { now: () => new Date(Date.now() + 10 * 60_000) };

describe.each(testDrivers())('a reconciliation cycle against the simulator (%s)', (driver) => {
  let tdb: TestDb;
  let repos: Repositories;
  let r: Rig;
  let jobs: Jobs;
  let notifier: RecordingNotifier;
  const accounts: AccountRecord[] = [];
  let first: ReconcileReport;
  /** The finished signal whose rows were left open. */
  let lostId: string;
  let second: ReconcileReport;
  const ref = (a: AccountRecord): AccountRef => ({
    credentialId: a.credentialId,
    brokerAccountId: a.brokerAccountId,
  });
  const working = async (a: AccountRecord) => {
    const w = await r.broker.workingOrders(ref(a));
    if (!w.ok) throw new Error(w.error.message);
    return w.value.filter((o) => o.status === 'working');
  };
  const net = async (a: AccountRecord) => {
    const p = await r.broker.positions(ref(a));
    if (!p.ok) throw new Error(p.error.message);
    return p.value.find((x) => x.contract === CONTRACT)?.netQuantity ?? 0;
  };
  const result = (report: ReconcileReport, a: AccountRecord) =>
    report.results.find((x) => x.accountId === a.id);

  beforeAll(async () => {
    tdb = await openTestDb(driver);
    repos = createRepositories({ db: tdb.db, secretBox: new SecretBox(randomBytes(32)) });
    // The adapter's own per-minute budget is raised: the set-up below sends more in a minute than 80.
    r = await rig({ users: [USER], broker: { limits: { perMinute: 2_000, perHour: 20_000 } } });
    const owner = await repos.users.ensureIdentityUser('telegram', '700', 'Owner', ['trader']);
    const credential = await repos.credentials.create({
      ownerUserId: owner.id,
      broker: 'tradovate',
      environment: 'demo',
      kind: 'oauth',
      label: 'trader1',
      secret: {},
    });
    // The adapter reads tokens by our credential id.
    r.store.secrets.set(credential.id, r.store.secrets.get(USER.name)!);
    const policies = [
      { bracketPolicy: 'keep', unmanagedPolicy: 'report' },
      { bracketPolicy: 'require', unmanagedPolicy: 'report' },
      { bracketPolicy: 'keep', unmanagedPolicy: 'report' },
      { bracketPolicy: 'keep', unmanagedPolicy: 'report' },
      { bracketPolicy: 'keep', unmanagedPolicy: 'report' },
      { bracketPolicy: 'keep', unmanagedPolicy: 'flatten' },
    ] as const;
    for (const [i, venue] of USER.accounts.entries()) {
      accounts.push(
        await repos.accounts.create({
          credentialId: credential.id,
          brokerAccountId: String(venue.id),
          name: venue.name,
          ...policies[i]!,
        }),
      );
    }
    const [orphan, requireStop, halfTp, unknown, manual, flatten] = accounts as [
      AccountRecord,
      AccountRecord,
      AccountRecord,
      AccountRecord,
      AccountRecord,
      AccountRecord,
    ];
    const log = captureLog();
    const engine = new Engine({
      brokers: new Map([['tradovate', r.broker]]),
      signals: repos.signals,
      journal: repos.journal,
      settings: repos.settings,
      clock: { now: () => new Date() },
      log: log.log,
    });
    let n = 0;
    const buy = async (targets: AccountRecord[], quantity: number) => {
      const signal: Signal = {
        action: 'buy',
        symbol: 'MNQ',
        quantity,
        entry: { type: 'market' },
        takeProfit: { kind: 'price', value: 21540 },
        target: {},
      };
      const { summary } = await engine.submit(
        {
          signal,
          source: 'command',
          principal: { platform: 'telegram', userId: '700' },
          dedupKey: `drift-${++n}`,
          receivedAt: new Date(),
        },
        targets,
      );
      expect(summary.filled).toBe(targets.length);
    };
    r.sim.setPrice('MNQ', 21500);
    await buy([orphan, requireStop], 1);
    await buy([halfTp], 2);

    // 1. An orphan take-profit: the position was closed by hand; its take-profit still works.
    r.sim.exchange.placeOrder({
      accountId: orphan.brokerAccountId,
      contract: CONTRACT,
      side: 'sell',
      quantity: 1,
      type: 'market',
    });
    // 2. The `require` account has a take-profit and no stop (the signal gave none).
    // 3. A take-profit sized for half of a two-lot position.
    const [tp] = await working(halfTp);
    const halved = await r.broker.modifyOrder({ account: ref(halfTp), orderId: tp!.orderId, quantity: 1 });
    expect(halved.ok).toBe(true);
    /** A limit buy recorded as if sent, in the given status. */
    const recorded = async (dedupKey: string, status: 'done' | 'executing') => {
      const { signal } = await repos.signals.insertIfNew({
        dedupKey,
        source: 'command',
        principal: { platform: 'telegram', userId: '700' },
        body: {
          action: 'buy',
          symbol: 'MNQ',
          quantity: 1,
          entry: { type: 'limit', price: 21000 },
          target: {},
        },
      });
      await repos.signals.setStatus(signal.id, status);
      return signal;
    };
    // 4. Two rows of unknown outcome: one whose order exists at the broker, one whose order never arrived.
    const lost = await recorded('lost-in-transit', 'done');
    lostId = lost.id;
    const arrived = clientOrderId(lost.id, unknown.id, 'entry', 0);
    const vanished = clientOrderId(lost.id, unknown.id, 'entry', 1);
    const plan = {
      contract: CONTRACT,
      side: 'buy' as const,
      quantity: 1,
      orderType: 'limit' as const,
      price: 21000,
    };
    await repos.journal.insertMany([
      {
        signalId: lost.id,
        accountId: unknown.id,
        clientOrderId: arrived,
        leg: 'entry',
        seq: 0,
        state: 'unknown',
        plan,
        reason: 'Timeout: no answer',
      },
      {
        signalId: lost.id,
        accountId: unknown.id,
        clientOrderId: vanished,
        leg: 'entry',
        seq: 1,
        state: 'unknown',
        plan,
        reason: 'Timeout: no answer',
      },
    ]);
    // Rows a finished signal left planned (a run that stopped short): an order that did go out, one
    // that never did, and the account's flatten row; and a planned row of a signal still executing.
    const sentAfterAll = clientOrderId(lost.id, unknown.id, 'entry', 2);
    const neverSent = clientOrderId(lost.id, unknown.id, 'entry', 3);
    const running = await recorded('still-running', 'executing');
    const planned = (signalId: string, cid: string, leg: 'entry' | 'flatten', seq: number) => ({
      signalId,
      accountId: unknown.id,
      clientOrderId: cid,
      leg,
      seq,
      state: 'planned' as const,
      plan: leg === 'entry' ? plan : { contract: '*', side: null, quantity: 1 },
    });
    await repos.journal.insertMany([
      planned(lost.id, sentAfterAll, 'entry', 2),
      planned(lost.id, neverSent, 'entry', 3),
      planned(lost.id, clientOrderId(lost.id, unknown.id, 'flatten', 0), 'flatten', 0),
      planned(running.id, clientOrderId(running.id, unknown.id, 'entry', 0), 'entry', 0),
    ]);
    for (const cid of [arrived, sentAfterAll]) {
      const placed = await r.broker.placeOrder({
        account: ref(unknown),
        clientOrderId: cid,
        contract: CONTRACT,
        side: 'buy',
        quantity: 1,
        type: 'limit',
        price: 21000,
      });
      expect(placed.ok).toBe(true);
    }
    // 5. A position and an order made by hand, on a `report` account and on a `flatten` account.
    for (const a of [manual, flatten]) {
      r.sim.exchange.placeOrder({
        accountId: a.brokerAccountId,
        contract: CONTRACT,
        side: 'buy',
        quantity: 2,
        type: 'market',
      });
      r.sim.exchange.placeOrder({
        accountId: a.brokerAccountId,
        contract: CONTRACT,
        side: 'sell',
        quantity: 1,
        type: 'limit',
        price: 21700,
      });
    }

    notifier = new RecordingNotifier();
    jobs = createJobs({
      log: captureLog().log,
      clock: later,
      instance: 'test',
      stores: repos,
      brokers: new Map([['tradovate', r.broker]]),
      tradovate: r.broker,
      renewalsPerHour: 15,
      notifier,
    });
    first = await jobs.reconcileNow();
    second = await jobs.reconcileNow();
  });
  afterAll(async () => {
    await jobs?.stopAll();
    await r?.close();
    await tdb?.close();
  });

  it('cancels a take-profit left working with no position', async () => {
    const [orphan] = accounts;
    expect(result(first, orphan!)?.findings).toEqual([
      expect.objectContaining({ kind: 'orphan_exit', action: 'cancelled', contract: CONTRACT, new: true }),
    ]);
    expect(await working(orphan!)).toEqual([]);
  });

  it('places the missing stop of a `require` account, sized to the position, at the default distance', async () => {
    const requireStop = accounts[1]!;
    expect(result(first, requireStop)?.findings).toEqual([
      expect.objectContaining({ kind: 'missing_stop', action: 'placed', contract: CONTRACT }),
    ]);
    const orders = await working(requireStop);
    expect(orders.map((o) => [o.type, o.side, o.quantity, o.price ?? o.stopPrice]).sort()).toEqual([
      ['limit', 'sell', 1, 21540],
      // 40 ticks of 0.25 below the 21500 average.
      ['stop', 'sell', 1, 21490],
    ]);
    const stop = orders.find((o) => o.type === 'stop')!;
    expect(stop.clientOrderId).toMatch(new RegExp(`^tc\\.r${first.signalId}\\.${requireStop.id}\\.s\\d+$`));
  });

  it('resizes a take-profit sized for half the position', async () => {
    const halfTp = accounts[2]!;
    expect(result(first, halfTp)?.findings).toEqual([
      expect.objectContaining({ kind: 'size_mismatch', action: 'modified', contract: CONTRACT }),
    ]);
    expect(await net(halfTp)).toBe(2);
    expect((await working(halfTp)).map((o) => [o.type, o.quantity])).toEqual([['limit', 2]]);
  });

  it('settles unknown rows by client order id: found → reconciled with the order id; missing → not_at_broker', async () => {
    const unknown = accounts[3]!;
    expect(result(first, unknown)?.findings.map((f) => [f.kind, f.action])).toEqual([
      ['settled_found', 'settled'],
      ['settled_missing', 'settled'],
      ['settled_found', 'settled'],
      ['settled_missing', 'settled'],
      ['settled_found', 'settled'],
    ]);
    // Only the row of the signal still executing is left to its run.
    const open = await repos.journal.listNonTerminal();
    expect(open.filter((row) => row.accountId === unknown.id).map((row) => [row.leg, row.state])).toEqual([
      ['entry', 'planned'],
    ]);
    const [found] = await working(unknown);
    const arrived = await repos.journal.findByClientOrderId(found!.clientOrderId!);
    expect(arrived).toMatchObject({ state: 'reconciled', brokerOrderIds: [found!.orderId], reason: null });
    const vanished = await repos.journal.findByClientOrderId(found!.clientOrderId!.replace(/e0$/, 'e1'));
    expect(vanished).toMatchObject({
      state: 'reconciled',
      reason: expect.stringMatching(/^not_at_broker: /),
    });
    // The limit entries that did arrive are ours and are left working.
    expect(await working(unknown)).toHaveLength(2);
  });

  it('settles rows a finished signal left planned: found, never sent, and a flatten row by the account being flat', async () => {
    const unknown = accounts[3]!;
    const row = (leg: 'entry' | 'flatten', seq: number) =>
      repos.journal.findByClientOrderId(clientOrderId(lostId, unknown.id, leg, seq));
    const sent = await row('entry', 2);
    expect(sent).toMatchObject({ state: 'reconciled', reason: null });
    expect((await working(unknown)).map((o) => o.orderId)).toContain(sent!.brokerOrderIds[0]);
    expect(await row('entry', 3)).toMatchObject({
      state: 'reconciled',
      reason: expect.stringMatching(/^not_at_broker: .*its signal finished without sending it$/),
    });
    expect(await row('flatten', 0)).toMatchObject({ state: 'reconciled', reason: null });
  });

  it('reports a position and an order made by hand on a `report` account, and leaves them alone', async () => {
    const manual = accounts[4]!;
    expect(result(first, manual)?.findings.map((f) => [f.kind, f.action, f.new])).toEqual([
      ['unmanaged_position', 'reported', true],
      ['unmanaged_order', 'reported', true],
    ]);
    expect(await net(manual)).toBe(2);
    expect(await working(manual)).toHaveLength(1);
  });

  it('flattens a position and cancels an order made by hand on a `flatten` account', async () => {
    const flatten = accounts[5]!;
    expect(result(first, flatten)?.findings.map((f) => [f.kind, f.action])).toEqual([
      ['unmanaged_order', 'cancelled'],
      ['unmanaged_position', 'liquidated'],
    ]);
    expect(await net(flatten)).toBe(0);
    expect(await working(flatten)).toEqual([]);
  });

  it('journals every repair under the cycle’s signal and audits it', async () => {
    expect(first.signalId).not.toBeNull();
    const rows = await repos.journal.listBySignal(first.signalId!);
    expect(rows.map((row) => [row.accountId, row.leg, row.state]).sort()).toEqual(
      [
        [accounts[0]!.id, 'cancel', 'acked'],
        [accounts[1]!.id, 'stop_loss', 'acked'],
        [accounts[2]!.id, 'take_profit', 'acked'],
        [accounts[5]!.id, 'cancel', 'acked'],
        [accounts[5]!.id, 'liquidate', 'acked'],
      ].sort(),
    );
    for (const row of rows) {
      expect(row.clientOrderId).toMatch(/^tc\.r\d+\.\d+\.[cstl]\d+$/);
      expect(row.clientOrderId.length).toBeLessThanOrEqual(64);
    }
    const signal = await repos.signals.get(first.signalId!);
    expect(signal).toMatchObject({ source: 'command', status: 'done' });
    const audited = (await repos.audit.recent(100)).filter((e) => e.actor === 'job:reconcile');
    expect(audited.filter((e) => e.action === 'reconcile.settled')).toHaveLength(5);
    expect(
      audited
        .filter((e) => !e.action.startsWith('reconcile.settled'))
        .map((e) => e.action)
        .sort(),
    ).toEqual(
      [
        'reconcile.missing_stop.placed',
        'reconcile.orphan_exit.cancelled',
        'reconcile.size_mismatch.modified',
        'reconcile.unmanaged_order.cancelled',
        'reconcile.unmanaged_position.liquidated',
      ].sort(),
    );
  });

  it('tells the owner once, in one message for all their accounts', () => {
    expect(notifier.sent).toHaveLength(1);
    const [message] = notifier.sent;
    expect(message).toMatchObject({ type: 'text', to: { platform: 'telegram', userId: '700' } });
    const text = (message as { text: string }).text;
    for (const a of accounts) expect(text).toContain(a.name);
  });

  it('a second cycle finds nothing new and changes nothing', () => {
    expect(first).toMatchObject({ accounts: 6, checked: 6, deferred: 0, failed: 0, settled: 5, repaired: 5 });
    expect(second).toMatchObject({
      accounts: 6,
      checked: 6,
      settled: 0,
      repaired: 0,
      newFindings: 0,
      signalId: null,
    });
    // What was made by hand is still there, already reported.
    expect(second.results.map((x) => x.accountId)).toEqual([accounts[4]!.id]);
    expect(jobs.lastReconciliation()).toBe(second);
  });
});
