/**
 * A reconciliation cycle over 1,000 accounts (200 Tradovate users of 5 accounts, a tenth of them
 * holding a position with its brackets) against the simulator, under the adapter's default request
 * budgets, finishes within the default 30-second interval. Prints the figures.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRepositories, type Repositories, SecretBox } from '../../../src/db/index.js';
import type { AccountRecord } from '../../../src/db/repositories/types.js';
import { Engine } from '../../../src/engine/engine.js';
import { createJobs, type Jobs } from '../../../src/jobs/index.js';
import { openTestDb, type TestDb } from '../../helpers/db.js';
import { captureLog } from '../../helpers/log.js';
import { RecordingNotifier } from '../../unit/jobs/fakes.js';
import { makeUser, type Rig, rig } from '../tradovate/harness.js';

const USERS = 200;
const PER_USER = 5;
const INTERVAL_MS = 30_000;

describe('a reconciliation cycle over 1,000 accounts', () => {
  let tdb: TestDb;
  let repos: Repositories;
  let r: Rig;
  let jobs: Jobs;
  const accounts: AccountRecord[] = [];

  beforeAll(async () => {
    tdb = await openTestDb('pglite');
    repos = createRepositories({ db: tdb.db, secretBox: new SecretBox(randomBytes(32)) });
    const users = Array.from({ length: USERS }, (_, i) => makeUser(100 + i, PER_USER));
    // Linking 200 users at once is set-up, not what is measured: the simulator's per-IP limit on
    // unauthenticated calls is lifted for it. The adapter keeps its default budgets.
    r = await rig({
      users,
      sim: { limits: { anonymous: { perSecond: 100_000, perMinute: 100_000, perHour: 100_000 } } },
    });
    const owner = await repos.users.ensureIdentityUser('telegram', '1', 'Owner', ['trader']);
    for (const user of users) {
      const credential = await repos.credentials.create({
        ownerUserId: owner.id,
        broker: 'tradovate',
        environment: 'demo',
        kind: 'oauth',
        label: user.name,
        secret: {},
      });
      r.store.secrets.set(credential.id, r.store.secrets.get(user.name)!);
      for (const venue of user.accounts) {
        accounts.push(
          await repos.accounts.create({
            credentialId: credential.id,
            brokerAccountId: String(venue.id),
            name: venue.name,
            bracketPolicy: 'require',
          }),
        );
      }
    }
    const engine = new Engine({
      brokers: new Map([['tradovate', r.broker]]),
      signals: repos.signals,
      journal: repos.journal,
      settings: repos.settings,
      clock: { now: () => new Date() },
      log: captureLog('warn').log,
    });
    r.sim.setPrice('MNQ', 21500);
    const holders = accounts.filter((_, i) => i % 10 === 0);
    const { summary } = await engine.submit(
      {
        signal: {
          action: 'buy',
          symbol: 'MNQ',
          quantity: 1,
          entry: { type: 'market' },
          takeProfit: { kind: 'price', value: 21560 },
          stopLoss: { kind: 'price', value: 21460 },
          target: {},
        },
        source: 'command',
        principal: { platform: 'telegram', userId: '1' },
        dedupKey: 'scale-entry',
        receivedAt: new Date(),
      },
      holders,
    );
    expect(summary.filled).toBe(holders.length);
    jobs = createJobs({
      log: captureLog('warn').log,
      clock: { now: () => new Date(Date.now() + 10 * 60_000) },
      instance: 'scale',
      stores: repos,
      brokers: new Map([['tradovate', r.broker]]),
      tradovate: r.broker,
      renewalsPerHour: 15,
      notifier: new RecordingNotifier(),
      reconcileIntervalMs: INTERVAL_MS,
    });
  }, 300_000);
  afterAll(async () => {
    await jobs?.stopAll();
    await r?.close();
    await tdb?.close();
  });

  it('checks every account within the interval, at background priority and within each credential’s budget', async () => {
    r.sim.resetCounters();
    const cold = await jobs.reconcileNow();
    const coldRequests = r.sim.requests.count({});
    r.sim.resetCounters();
    const warm = await jobs.reconcileNow();
    const warmRequests = r.sim.requests.count({});
    const usage = await Promise.all(
      accounts.filter((_, i) => i % PER_USER === 0).map((a) => r.broker.budgetUsage(a.credentialId)),
    );
    const busiest = Math.max(...usage.map((u) => u.minute));
    console.log(
      `1,000 accounts on 200 credentials: first cycle ${cold.durationMs} ms (${coldRequests} venue requests, ` +
        `sockets and caches cold), next cycle ${warm.durationMs} ms (${warmRequests} requests); ` +
        `busiest credential used ${busiest} of its 80 requests this minute`,
    );
    for (const report of [cold, warm]) {
      expect(report).toMatchObject({
        accounts: 1000,
        checked: 1000,
        deferred: 0,
        failed: 0,
        repaired: 0,
        newFindings: 0,
      });
      expect(report.durationMs).toBeLessThan(INTERVAL_MS);
    }
    expect(busiest).toBeLessThanOrEqual(80);
  }, 180_000);
});
