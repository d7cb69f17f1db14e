/**
 * Token refresh on the real repositories, and through the real Tradovate adapter inside the app
 * against the simulator: renewals land in storage, and a credential that cannot be renewed ends in
 * `needs_reauth` with exactly one chat notice to its owner, whichever side found out.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from '../../../src/brokers/tradovate/index.js';
import {
  CronRunsRepository,
  createRepositories,
  type Repositories,
  SecretBox,
} from '../../../src/db/index.js';
import { err, ok } from '../../../src/domain/result.js';
import { createJobs, type Jobs } from '../../../src/jobs/index.js';
import { TokenRefresher } from '../../../src/jobs/token-refresh.js';
import { type Simulator, startSimulator } from '../../fakes/tradovate/server.js';
import { startTestApp, type TestApp, waitFor } from '../../helpers/app.js';
import { openTestDb, resetTestDb, type TestDb, testDrivers } from '../../helpers/db.js';
import { captureLog } from '../../helpers/log.js';
import { RecordingNotifier, TestClock } from '../../unit/jobs/fakes.js';
import { linkViaOAuth, makeUser } from '../tradovate/harness.js';

const MIN = 60_000;

describe.each(testDrivers())('token refresh on the repositories (%s)', (driver) => {
  let tdb: TestDb;
  let repos: Repositories;
  beforeAll(async () => {
    tdb = await openTestDb(driver);
    repos = createRepositories({ db: tdb.db, secretBox: new SecretBox(randomBytes(32)) });
  });
  beforeEach(async () => resetTestDb(tdb.db));
  afterAll(async () => tdb?.close());

  const setUp = async (expiresInMs: number) => {
    const owner = await repos.users.ensureIdentityUser('discord', '123', 'Owner', ['trader']);
    await repos.users.linkIdentity(owner.id, 'telegram', '456');
    const t0 = Date.now();
    const credential = await repos.credentials.create({
      ownerUserId: owner.id,
      broker: 'tradovate',
      environment: 'demo',
      kind: 'oauth',
      label: 'Apex 7',
      secret: { accessToken: 'x' },
      tokenExpiresAt: new Date(t0 + expiresInMs),
    });
    return { owner, credential, clock: new TestClock(t0) };
  };

  it('schedules a linked credential, renews it when due, and stores the next refresh', async () => {
    const { credential, clock } = await setUp(80 * MIN);
    const renewed: string[] = [];
    const refresher = new TokenRefresher({
      credentials: repos.credentials,
      users: repos.users,
      notifier: new RecordingNotifier(),
      audit: repos.audit,
      renew: async (id) => {
        renewed.push(id);
        const expiresAt = new Date(clock.t + 80 * MIN);
        // As the adapter does: the renewed token goes into the credential with its expiry.
        await repos.credentials.writeSecret(
          id,
          { accessToken: 'y' },
          { tokenExpiresAt: expiresAt, tokenSource: 'renewed' },
        );
        return ok({ expiresAt });
      },
      renewalsPerHour: 600,
      clock,
      log: captureLog().log,
    });
    expect(await refresher.run()).toMatchObject({ scheduled: 1, renewed: 0 });
    const scheduled = (await repos.credentials.get(credential.id))!.nextRefreshAt!.getTime();
    expect(scheduled).toBeGreaterThanOrEqual(clock.t + 50 * MIN);
    expect(scheduled).toBeLessThanOrEqual(clock.t + 60 * MIN);
    clock.t = scheduled;
    expect(await refresher.run()).toMatchObject({ renewed: 1, due: 1 });
    expect(renewed).toEqual([credential.id]);
    const after = (await repos.credentials.get(credential.id))!;
    expect(after.tokenExpiresAt!.getTime()).toBe(clock.t + 80 * MIN);
    expect(after.nextRefreshAt!.getTime()).toBeGreaterThan(clock.t + 45 * MIN);
  });

  it('a renewal that keeps failing ends in needs_reauth and one notice per chat of the owner, once', async () => {
    const { credential, clock } = await setUp(30 * MIN);
    await repos.credentials.setNextRefresh(credential.id, new Date(clock.t));
    const notifier = new RecordingNotifier();
    let calls = 0;
    const refresher = new TokenRefresher({
      credentials: repos.credentials,
      users: repos.users,
      notifier,
      audit: repos.audit,
      renew: async () => {
        calls++;
        return err({ kind: 'unavailable', reason: 'ServerError', message: 'HTTP 503', retryable: true });
      },
      renewalsPerHour: 60,
      clock,
      log: captureLog().log,
    });
    const start = clock.t;
    for (let minute = 0; minute <= 45; minute++) {
      clock.t = start + minute * MIN;
      await refresher.run();
    }
    expect(calls).toBe(6);
    const after = (await repos.credentials.get(credential.id))!;
    expect(after).toMatchObject({ state: 'needs_reauth', nextRefreshAt: null });
    expect(after.stateReason).toMatch(/^renewal_failed: ServerError/);
    // The owner is linked from Discord and Telegram: one notice in each, and never again.
    expect(notifier.sent.map((n) => [n.type, n.to])).toEqual([
      ['credential_state', { platform: 'discord', userId: '123' }],
      ['credential_state', { platform: 'telegram', userId: '456' }],
    ]);
    const audited = (await repos.audit.recent(10)).filter((e) => e.action === 'credential.needs_reauth');
    expect(audited).toHaveLength(1);
  });
});

describe('token refresh through the app’s Tradovate adapter and the simulator', () => {
  const USER = makeUser(3, 1);
  let sim: Simulator;
  let t: TestApp;
  let jobs: Jobs;
  let notifier: RecordingNotifier;
  let credentialId: string;

  beforeEach(async () => {
    sim = await startSimulator({ users: [USER] });
    t = await startTestApp('pglite', {
      DEMO: 'off',
      TRADOVATE_REST_URL: sim.restUrl,
      TRADOVATE_WS_URL: sim.wsUrl,
    });
    notifier = new RecordingNotifier();
    t.app.notifier.add(notifier);
    const owner = await t.app.stores.users.ensureIdentityUser('telegram', '900', 'Owner', ['trader']);
    const secret = await linkViaOAuth(sim, USER.name);
    const credential = await t.app.stores.credentials.create({
      ownerUserId: owner.id,
      broker: 'tradovate',
      environment: 'demo',
      kind: 'oauth',
      label: 'Sim user',
      secret: { ...secret },
      tokenExpiresAt: new Date(secret.expiresAt!),
    });
    credentialId = credential.id;
    // The job sees the token 25 minutes from expiry (its refresh is due); the adapter still holds the
    // real token, which the simulator will renew.
    await t.app.stores.credentials.writeSecret(
      credentialId,
      { ...secret },
      {
        tokenExpiresAt: new Date(Date.now() + 25 * MIN),
      },
    );
    // Wired as app.ts wires it.
    jobs = createJobs({
      log: t.app.log,
      instance: 'test',
      stores: { ...t.app.stores, cronRuns: new CronRunsRepository({ db: t.app.db }) },
      brokers: t.app.brokers,
      tradovate: t.app.tradovate,
      renewalsPerHour: DEFAULT_LIMITS.renewalsPerHour,
      notifier: t.app.notifier,
    });
    sim.resetCounters();
  });
  afterEach(async () => {
    await jobs?.stopAll();
    await t?.stop();
    await sim?.close();
  });

  it('renews a due token with renewaccesstoken and stores it, without a login', async () => {
    await t.app.stores.credentials.setNextRefresh(credentialId, new Date());
    expect(await jobs.refreshNow()).toMatchObject({ renewed: 1, failed: 0 });
    expect(sim.requests.count({ endpoint: 'auth/renewaccesstoken' })).toBe(1);
    expect(sim.requests.count({ endpoint: 'auth/accesstokenrequest' })).toBe(0);
    const after = (await t.app.stores.credentials.get(credentialId))!;
    expect(after.tokenSource).toBe('renewed');
    expect(after.nextRefreshAt!.getTime()).toBeGreaterThan(Date.now() + 40 * MIN);
  });

  it('a token the venue refuses ends in needs_reauth with exactly one notice, from the adapter’s report', async () => {
    sim.revokeSessions(USER.name);
    await t.app.stores.credentials.setNextRefresh(credentialId, new Date());
    expect(await jobs.refreshNow()).toMatchObject({ renewed: 0, failed: 1 });
    await waitFor(
      async () => (await t.app.stores.credentials.get(credentialId))?.state === 'needs_reauth',
      'needs_reauth',
    );
    await waitFor(() => notifier.sent.length > 0, 'the notice');
    // Later passes leave it alone: nothing retries into a dead login, nobody is told twice.
    await jobs.refreshNow();
    await jobs.refreshNow();
    expect(notifier.sent).toEqual([
      expect.objectContaining({
        type: 'credential_state',
        to: { platform: 'telegram', userId: '900' },
        state: 'needs_reauth',
        hint: expect.stringContaining('/link'),
      }),
    ]);
    expect(sim.requests.count({ endpoint: 'auth/renewaccesstoken' })).toBe(1);
  });
});
