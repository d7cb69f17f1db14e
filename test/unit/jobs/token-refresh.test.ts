import { afterEach, describe, expect, it, vi } from 'vitest';
import { ok } from '../../../src/domain/result.js';
import { createJobs, type JobStores } from '../../../src/jobs/index.js';
import { pickRenewals, type RenewalCandidate, TokenRefresher } from '../../../src/jobs/token-refresh.js';
import { captureLog } from '../../helpers/log.js';
import {
  failingRenew,
  identities,
  MemoryCredentials,
  RecordingNotifier,
  seeded,
  TestClock,
} from './fakes.js';

const MIN = 60_000;
const T0 = Date.UTC(2026, 0, 5, 14, 0, 0);

const candidate = (id: string, dueMin: number, deadlineMin: number): RenewalCandidate => ({
  id,
  dueAt: T0 + dueMin * MIN,
  deadline: T0 + deadlineMin * MIN,
});

describe('pickRenewals', () => {
  it('renews what is due, most urgent first, and never more than the minute allows', () => {
    const picked = pickRenewals(
      [candidate('a', -1, 30), candidate('b', -5, 10), candidate('c', -2, 20), candidate('d', 5, 25)],
      new Date(T0),
      2,
      10,
    );
    expect(picked.map((c) => c.id)).toEqual(['b', 'c']);
  });

  it('leaves what is not due when later minutes have room for it', () => {
    expect(pickRenewals([candidate('a', 10, 40)], new Date(T0), 5, 1)).toEqual([]);
  });

  it('renews early what could not otherwise be renewed before its deadline', () => {
    // Six credentials due in ten minutes must all be renewed by minute 2, at two a minute: minutes
    // 1 and 2 hold four, so two must go now.
    const burst = Array.from({ length: 6 }, (_, i) => candidate(`x${i}`, 10, 2));
    const now = pickRenewals(burst, new Date(T0), 2, 2);
    expect(now).toHaveLength(2);
    // With room to spare in later minutes, nothing needs to go now.
    expect(pickRenewals(burst, new Date(T0), 2, 10)).toEqual([]);
  });

  it('when even the deadlines cannot all be met, the earliest deadlines go first', () => {
    const late = [candidate('late', -30, -1), candidate('soon', -10, 1), candidate('later', -5, 50)];
    expect(pickRenewals(late, new Date(T0), 2, 1).map((c) => c.id)).toEqual(['late', 'soon']);
  });
});

describe('TokenRefresher', () => {
  it('keeps 10,000 tokens authorized in the same minute alive for 24 hours, never above the per-minute budget', async () => {
    const clock = new TestClock(T0);
    const store = new MemoryCredentials();
    const random = seeded(42);
    const LIFETIME = 80 * MIN;
    for (let i = 1; i <= 10_000; i++) {
      // Every credential linked within the minute before T0.
      store.add({ id: String(i), tokenExpiresAt: new Date(T0 - random() * MIN + LIFETIME) });
    }
    const perMinute = new Map<number, number>();
    let renewedExpired = 0;
    let minLeftAtRenewal = Number.POSITIVE_INFINITY;
    const renew = async (id: string) => {
      const c = store.byId.get(id)!;
      const left = c.tokenExpiresAt!.getTime() - clock.t;
      if (left <= 0) renewedExpired++;
      minLeftAtRenewal = Math.min(minLeftAtRenewal, left);
      const minute = Math.floor(clock.t / MIN);
      perMinute.set(minute, (perMinute.get(minute) ?? 0) + 1);
      const expiresAt = new Date(clock.t + LIFETIME);
      // The adapter stores the renewed token's expiry with the credential.
      c.tokenExpiresAt = expiresAt;
      return ok({ expiresAt });
    };
    const renewalsPerHour = 15_000;
    const refresher = new TokenRefresher({
      credentials: store,
      users: identities({}),
      notifier: new RecordingNotifier(),
      renew,
      renewalsPerHour,
      clock,
      log: captureLog('warn').log,
      random: seeded(7),
      concurrency: 64,
    });
    const budget = Math.floor(renewalsPerHour / 60);
    let expiredSeen = 0;
    let early = 0;
    let deferredMinutes = 0;
    for (let minute = 1; minute <= 24 * 60; minute++) {
      clock.t = T0 + minute * MIN;
      for (const c of store.byId.values()) if (c.tokenExpiresAt!.getTime() <= clock.t) expiredSeen++;
      const report = await refresher.run();
      early += report.early;
      if (report.deferred > 0) deferredMinutes++;
    }
    const counts = [...perMinute.values()];
    const total = counts.reduce((a, b) => a + b, 0);
    const busiest = Math.max(...counts);
    console.log(
      `10,000 credentials over 24 h: ${total} renewals, busiest minute ${busiest} (budget ${budget}), ` +
        `${early} renewed early to absorb the burst, ${deferredMinutes} minutes with due renewals deferred, ` +
        `least validity left at a renewal ${(minLeftAtRenewal / MIN).toFixed(1)} min`,
    );
    expect(expiredSeen).toBe(0);
    expect(renewedExpired).toBe(0);
    expect(busiest).toBeLessThanOrEqual(budget);
    // Every token was renewed about every hour: no credential was starved.
    expect(total).toBeGreaterThan(10_000 * 20);
    for (const c of store.byId.values()) expect(c.state).toBe('ok');
  }, 120_000);

  it('a renewal that keeps failing is retried with backoff, then needs_reauth and one notice to the owner', async () => {
    const clock = new TestClock(T0);
    const store = new MemoryCredentials();
    store.add({
      id: '7',
      ownerUserId: '42',
      label: 'Apex 1',
      tokenExpiresAt: new Date(T0 + 30 * MIN),
      nextRefreshAt: new Date(T0),
    });
    const notifier = new RecordingNotifier();
    const renew = failingRenew(clock, 'ServerError');
    const audit: unknown[] = [];
    const refresher = new TokenRefresher({
      credentials: store,
      users: identities({
        '42': [
          { platform: 'console', externalId: 'local' },
          { platform: 'telegram', externalId: '555' },
        ],
      }),
      notifier,
      audit: { record: async (e) => audit.push(e) },
      renew,
      renewalsPerHour: 60,
      clock,
      log: captureLog().log,
    });
    for (let minute = 0; minute <= 60; minute++) {
      clock.t = T0 + minute * MIN;
      await refresher.run();
    }
    // 1, 2, 4, 8, 8 minutes apart (the backoff stops at 8); the next try would land after the expiry.
    expect(renew.calls.map((t) => (t - T0) / MIN)).toEqual([0, 1, 3, 7, 15, 23]);
    expect(store.byId.get('7')).toMatchObject({ state: 'needs_reauth', nextRefreshAt: null });
    expect(notifier.sent).toEqual([
      expect.objectContaining({
        type: 'credential_state',
        to: { platform: 'telegram', userId: '555' },
        credentialLabel: 'Apex 1',
        state: 'needs_reauth',
        hint: expect.stringContaining('/link'),
      }),
    ]);
    expect(audit).toEqual([
      expect.objectContaining({ action: 'credential.needs_reauth', subject: 'credential:7' }),
    ]);
  });

  it('leaves a credential the adapter found dead to the adapter’s own notice', async () => {
    const clock = new TestClock(T0);
    const store = new MemoryCredentials();
    store.add({ id: '8', tokenExpiresAt: new Date(T0 + 30 * MIN), nextRefreshAt: new Date(T0) });
    const notifier = new RecordingNotifier();
    const renew = failingRenew(clock, 'NeedsReauth', false);
    const refresher = new TokenRefresher({
      credentials: store,
      users: identities({ '1': [{ platform: 'discord', externalId: '9' }] }),
      notifier,
      renew,
      renewalsPerHour: 60,
      clock,
      log: captureLog().log,
    });
    await refresher.run();
    clock.advance(10 * MIN);
    await refresher.run();
    expect(renew.calls).toHaveLength(1);
    expect(store.byId.get('8')!.nextRefreshAt).toBeNull();
    expect(store.stateChanges).toEqual([]);
    expect(notifier.sent).toEqual([]);
  });

  it('schedules a newly linked credential at expiry minus margin minus jitter', async () => {
    const clock = new TestClock(T0);
    const store = new MemoryCredentials();
    store.add({ id: '1', tokenExpiresAt: new Date(T0 + 80 * MIN) });
    store.add({ id: '2', tokenExpiresAt: null });
    store.add({ id: '3', broker: 'paper', tokenExpiresAt: new Date(T0 + 80 * MIN) });
    const refresher = new TokenRefresher({
      credentials: store,
      users: identities({}),
      notifier: new RecordingNotifier(),
      renew: async () => ok({ expiresAt: new Date(clock.t + 80 * MIN) }),
      renewalsPerHour: 600,
      clock,
      log: captureLog().log,
      random: () => 0.5,
    });
    const report = await refresher.run();
    expect(report.scheduled).toBe(1);
    expect(store.byId.get('1')!.nextRefreshAt).toEqual(new Date(T0 + 80 * MIN - 20 * MIN - 5 * MIN));
    expect(store.byId.get('2')!.nextRefreshAt).toBeNull();
    expect(store.byId.get('3')!.nextRefreshAt).toBeNull();
  });

  it('below 60 renewals an hour, keeps to the hourly budget over any rolling hour', async () => {
    const clock = new TestClock(T0);
    const store = new MemoryCredentials();
    for (let i = 1; i <= 40; i++)
      store.add({ id: String(i), tokenExpiresAt: new Date(T0 + 10 * MIN), nextRefreshAt: new Date(T0) });
    const calls: number[] = [];
    const refresher = new TokenRefresher({
      credentials: store,
      users: identities({}),
      notifier: new RecordingNotifier(),
      renew: async () => {
        calls.push(clock.t);
        return ok({ expiresAt: new Date(clock.t + 80 * MIN) });
      },
      renewalsPerHour: 15,
      clock,
      log: captureLog('error').log,
    });
    for (let minute = 0; minute < 120; minute++) {
      clock.t = T0 + minute * MIN;
      await refresher.run();
    }
    for (const t of calls)
      expect(calls.filter((u) => u > t - 60 * MIN && u <= t).length).toBeLessThanOrEqual(15);
    expect(calls.filter((t) => t < T0 + 60 * MIN)).toHaveLength(15);
  });
});

describe('the token refresh schedule', () => {
  afterEach(() => vi.useRealTimers());

  it('createJobs runs the refresh at the start of every minute', async () => {
    vi.useFakeTimers({ now: new Date(T0 - 500) });
    const store = new MemoryCredentials();
    store.add({ id: '1', tokenExpiresAt: new Date(T0 + 5 * MIN), nextRefreshAt: new Date(T0 - MIN) });
    const renewed: number[] = [];
    const empty = async () => [];
    const stores = {
      credentials: store,
      users: identities({}),
      audit: { record: async () => ({}) },
      settings: { get: async () => null, set: async () => undefined },
      cronRuns: { claim: async () => true, prune: async () => 0 },
      accounts: { listAll: empty },
      signals: {
        recentHeads: empty,
        insertIfNew: async () => {
          throw new Error('unused');
        },
        setStatus: async () => true,
        get: async () => null,
        findByDedupKey: async () => null,
      },
      journal: {
        insertMany: empty,
        updateMany: async () => 0,
        listBySignal: empty,
        hasEntries: async () => false,
        listNonTerminal: empty,
      },
    } satisfies JobStores;
    const jobs = createJobs({
      log: captureLog('warn').log,
      instance: 'test',
      stores,
      brokers: new Map(),
      tradovate: {
        renewToken: async () => {
          renewed.push(Date.now());
          return ok({ expiresAt: new Date(Date.now() + 80 * MIN) });
        },
        budgetUsage: async () => ({ minute: 0, hour: 0, limits: { minute: 80, hour: 5000 } }),
      },
      renewalsPerHour: 15,
      notifier: new RecordingNotifier(),
    });
    jobs.start();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(renewed).toHaveLength(1);
    expect(renewed[0]).toBeGreaterThanOrEqual(T0);
    expect(store.byId.get('1')!.nextRefreshAt!.getTime()).toBeGreaterThan(T0 + 40 * MIN);
    await vi.advanceTimersByTimeAsync(3 * MIN);
    expect(renewed).toHaveLength(1);
    expect(jobs.lastReconciliation()).toMatchObject({ accounts: 0 });
    await jobs.stopAll();
  });
});
