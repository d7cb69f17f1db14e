/**
 * What keeps reconciliation from doing harm, on the paper exchange and the real repositories: it
 * does not repair an account while a fan-out is at work on it, it stays within each credential's
 * request budget and picks up where it stopped, it does not resend a refused repair every cycle, and
 * it reports to one chat when told to.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PaperBroker, PaperExchange } from '../../../src/brokers/paper/index.js';
import { createRepositories, type Repositories, SecretBox } from '../../../src/db/index.js';
import type { AccountRecord } from '../../../src/db/repositories/types.js';
import type { Clock } from '../../../src/domain/clock.js';
import { Engine } from '../../../src/engine/engine.js';
import { type BudgetUse, Reconciler, type ReconcilerOptions } from '../../../src/engine/reconciler.js';
import { ReconcileJob } from '../../../src/jobs/reconcile.js';
import { openTestDb, resetTestDb, type TestDb } from '../../helpers/db.js';
import { captureLog } from '../../helpers/log.js';
import { RecordingNotifier } from '../../unit/jobs/fakes.js';

const now: Clock = { now: () => new Date() };
const later: Clock = { now: () => new Date(Date.now() + 10 * 60_000) };

describe('reconciliation guard rails', () => {
  let tdb: TestDb;
  let repos: Repositories;
  let exchange: PaperExchange;
  let broker: PaperBroker;
  let engine: Engine;
  let accounts: AccountRecord[];

  beforeAll(async () => {
    tdb = await openTestDb('pglite');
    repos = createRepositories({ db: tdb.db, secretBox: new SecretBox(randomBytes(32)) });
  });
  afterAll(async () => tdb?.close());
  beforeEach(async () => {
    await resetTestDb(tdb.db);
    exchange = new PaperExchange({ seed: 1 });
    exchange.setPrice('MNQ', 21500);
    broker = new PaperBroker({ exchange });
    engine = new Engine({
      brokers: new Map([['paper', broker]]),
      signals: repos.signals,
      journal: repos.journal,
      settings: repos.settings,
      clock: now,
      log: captureLog('warn').log,
    });
    const owner = await repos.users.ensureIdentityUser('telegram', '77', 'Owner', ['trader']);
    accounts = [];
    for (let c = 0; c < 2; c++) {
      const credential = await repos.credentials.create({
        ownerUserId: owner.id,
        broker: 'paper',
        environment: 'paper',
        kind: 'api_key',
        label: `paper ${c}`,
        secret: {},
      });
      for (let a = 0; a < 3; a++) {
        const account = await repos.accounts.create({
          credentialId: credential.id,
          brokerAccountId: `P${c}${a}`,
          name: `P-${c}-${a}`,
          bracketPolicy: 'require',
        });
        exchange.addAccount({ id: account.brokerAccountId, name: account.name, owner: credential.id });
        accounts.push(account);
      }
    }
  });

  const reconciler = (options: Partial<ReconcilerOptions> = {}) =>
    new Reconciler({
      brokers: new Map([['paper', broker]]),
      stores: repos,
      clock: later,
      log: captureLog('warn').log,
      ...options,
    });
  const buyWithTakeProfitOnly = async (targets: AccountRecord[], dedupKey: string) => {
    await engine.submit(
      {
        signal: {
          action: 'buy',
          symbol: 'MNQ',
          quantity: 1,
          entry: { type: 'market' },
          takeProfit: { kind: 'ticks', value: 80 },
          target: {},
        },
        source: 'command',
        principal: { platform: 'telegram', userId: '77' },
        dedupKey,
        receivedAt: new Date(),
      },
      targets,
    );
  };
  const stops = (a: AccountRecord) =>
    exchange.orders(a.brokerAccountId).filter((o) => o.status === 'working' && o.type === 'stop');

  it('does not repair an account a fan-out has just worked on; it does once the account is quiet', async () => {
    const [a] = accounts;
    await buyWithTakeProfitOnly([a!], 'fresh');
    const busy = await reconciler({ clock: now }).reconcile();
    expect(busy.results.find((x) => x.accountId === a!.id)?.status).toBe('busy');
    expect(stops(a!)).toEqual([]);
    const quiet = await reconciler({ clock: later }).reconcile();
    expect(quiet.results.find((x) => x.accountId === a!.id)?.findings).toEqual([
      expect.objectContaining({ kind: 'missing_stop', action: 'placed' }),
    ]);
    // The take-profit was 80 ticks; no stop distance was given, so the default 40 ticks applies.
    expect(stops(a!).map((o) => [o.quantity, o.stopPrice])).toEqual([[1, 21490]]);
  });

  it('repairs nothing anywhere while a signal is being executed', async () => {
    const [a] = accounts;
    await buyWithTakeProfitOnly([a!], 'earlier');
    const { signal } = await repos.signals.insertIfNew({
      dedupKey: 'in-flight',
      source: 'command',
      principal: { platform: 'telegram', userId: '77' },
      body: { action: 'buy', symbol: 'MNQ', quantity: 1, entry: { type: 'market' }, target: {} },
    });
    await repos.signals.setStatus(signal.id, 'executing');
    // Five minutes on, the signal is still young enough to be a live fan-out.
    const report = await reconciler({ clock: { now: () => new Date(Date.now() + 5 * 60_000) } }).reconcile();
    expect(report.busy).toBe(accounts.length);
    expect(stops(a!)).toEqual([]);
  });

  it('stops a lane when its credential’s budget is half used, and starts there next cycle', async () => {
    const used = new Map<string, number>();
    const budgetUsage = async (_broker: string, credentialId: string): Promise<BudgetUse> => {
      // Each account read costs this lane 20 of its 80 a minute.
      const minute = used.get(credentialId) ?? 0;
      used.set(credentialId, minute + 20);
      return { minute, hour: minute, limits: { minute: 80, hour: 5000 } };
    };
    const r = reconciler({ budgetUsage, laneConcurrency: 1 });
    const first = await r.reconcile();
    // 0 and 20 are under half of 80; 40 is not: two accounts per lane, the third deferred.
    expect(first).toMatchObject({ accounts: 6, checked: 4, deferred: 2 });
    const deferred = first.results.filter((x) => x.status === 'deferred').map((x) => x.accountName);
    expect(deferred).toEqual(['P-0-2', 'P-1-2']);
    used.clear();
    const second = await r.reconcile();
    // The next cycle begins with the accounts left out.
    expect(second.results.filter((x) => x.status === 'deferred').map((x) => x.accountName)).toEqual([
      'P-0-1',
      'P-1-1',
    ]);
  });

  it('a repair the broker refuses is reported once and not resent every cycle', async () => {
    const [a] = accounts;
    await buyWithTakeProfitOnly([a!], 'closed-later');
    exchange.setAccountActive(a!.brokerAccountId, false);
    const r = reconciler();
    const first = await r.reconcile();
    const again = await r.reconcile();
    const findingsOf = (report: typeof first) => report.results.find((x) => x.accountId === a!.id)?.findings;
    expect(findingsOf(first)).toEqual([
      expect.objectContaining({ kind: 'missing_stop', action: 'failed', new: true }),
    ]);
    expect(findingsOf(again)).toEqual([
      expect.objectContaining({ kind: 'missing_stop', action: 'failed', new: false }),
    ]);
    const rows = await repos.journal.listBySignal(first.signalId!);
    expect(rows.map((row) => [row.leg, row.state])).toEqual([['stop_loss', 'rejected']]);
    expect(again.signalId).toBeNull();
  });

  it('never flattens, as someone else’s, a position of ours older than the journal window', async () => {
    const [old, other] = accounts;
    await repos.accounts.update(old!.id, { unmanagedPolicy: 'flatten' });
    await buyWithTakeProfitOnly([old!], 'long-ago');
    await buyWithTakeProfitOnly([other!], 'newer');
    // The view holds one signal: the one that opened the first account's position is out of it.
    const report = await reconciler({ lookbackSignals: 1 }).reconcile();
    const findings = report.results.find((x) => x.accountId === old!.id)?.findings ?? [];
    expect(findings.map((f) => [f.kind, f.action])).toEqual([
      ['unmanaged_position', 'reported'],
      ['unmanaged_order', 'reported'],
    ]);
    expect(findings[0]!.detail).toContain('journal window');
    expect(exchange.positions(old!.brokerAccountId).reduce((n, p) => n + p.netQuantity, 0)).toBe(1);
  });

  it('sends one drift summary per cycle to a report chat when one is set, and nothing when nothing is new', async () => {
    await buyWithTakeProfitOnly(accounts, 'all');
    const notifier = new RecordingNotifier();
    const job = new ReconcileJob({
      reconciler: reconciler(),
      notifier,
      users: repos.users,
      settings: repos.settings,
      log: captureLog().log,
      reportTo: { platform: 'discord', chatId: 'ops' },
    });
    const report = await job.run();
    expect(report.repaired).toBe(6);
    await job.run();
    expect(notifier.sent).toHaveLength(1);
    expect(notifier.sent[0]).toMatchObject({ type: 'text', to: { platform: 'discord', chatId: 'ops' } });
    expect((notifier.sent[0] as { text: string }).text).toContain('Reconciliation found drift on 6 accounts');
    const stored = await repos.settings.get<{ cycle: number; repaired: number }>('reconcile.last');
    expect(stored).toMatchObject({ cycle: 2, repaired: 0 });
  });
});
