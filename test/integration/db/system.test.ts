import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Repositories } from '../../../src/db/index.js';
import { openTestDb, resetTestDb, type TestDb, testDrivers } from '../../helpers/db.js';
import { repositories } from './fixtures.js';

describe.each(testDrivers())('audit, settings and cron claims on %s', (driver) => {
  let t: TestDb;
  let repos: Repositories;
  beforeAll(async () => {
    t = await openTestDb(driver);
    repos = repositories(t.db);
  });
  afterAll(() => t?.close());
  beforeEach(() => resetTestDb(t.db));

  it('appends audit events and lists the latest first', async () => {
    const first = await repos.audit.record({ actor: 'user:1', action: 'halt.set', subject: 'global' });
    expect(first).toMatchObject({
      id: '1',
      actor: 'user:1',
      action: 'halt.set',
      subject: 'global',
      details: {},
    });
    expect(first.at).toBeInstanceOf(Date);
    await repos.audit.record({
      actor: 'system',
      action: 'credential.locked',
      subject: 'credential:3',
      details: { reason: 'captcha' },
    });
    const recent = await repos.audit.recent(10);
    expect(recent.map((e) => e.action)).toEqual(['credential.locked', 'halt.set']);
    expect(recent[0]?.details).toEqual({ reason: 'captcha' });
  });

  it('stores settings as JSON values and replaces them', async () => {
    expect(await repos.settings.get('halt')).toBeNull();
    await repos.settings.set('halt', { halted: true, reason: 'news', by: '1' });
    expect(await repos.settings.get<{ halted: boolean }>('halt')).toEqual({
      halted: true,
      reason: 'news',
      by: '1',
    });
    await repos.settings.set('halt', false);
    expect(await repos.settings.get<boolean>('halt')).toBe(false);
    await repos.settings.set('list', [1, 'two']);
    expect(await repos.settings.get('list')).toEqual([1, 'two']);
    expect(await repos.settings.delete('halt')).toBe(true);
    expect(await repos.settings.get('halt')).toBeNull();
  });

  it('lets exactly one instance claim a cron slot', async () => {
    const claims = await Promise.all([
      repos.cronRuns.claim('refresh@2030-01-01T00:00', 'host-a:1'),
      repos.cronRuns.claim('refresh@2030-01-01T00:00', 'host-b:2'),
      repos.cronRuns.claim('refresh@2030-01-01T00:00', 'host-c:3'),
    ]);
    expect(claims.filter(Boolean)).toHaveLength(1);
    expect(await repos.cronRuns.claim('refresh@2030-01-01T00:01', 'host-b:2')).toBe(true);
    expect(await repos.cronRuns.prune(new Date(Date.now() + 60_000))).toBe(2);
  });
});
