/**
 * Several instances sharing one database run each slot of a job once: two schedulers, each with its
 * own coordinator over the cron claims, race for the same slots. On PostgreSQL each scheduler has
 * its own connection pool to the same schema; on PGlite they share the one database object.
 */

import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CronRunsRepository, type Db, type OpenedDatabase, openDatabase } from '../../../src/db/index.js';
import { DatabaseRunCoordinator, Scheduler } from '../../../src/jobs/scheduler.js';
import { openTestDb, rowsOf, type TestDb, testDrivers } from '../../helpers/db.js';
import { captureLog } from '../../helpers/log.js';

async function until(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.each(testDrivers())('two schedulers on one database (%s)', (driver) => {
  let tdb: TestDb;
  let second: OpenedDatabase | null = null;
  let dbs: [Db, Db];

  beforeAll(async () => {
    tdb = await openTestDb(driver);
    if (driver === 'postgres') {
      second = await openDatabase({
        url: process.env.TEST_DATABASE_URL!,
        schemaName: tdb.schemaName!,
        maxConnections: 4,
      });
      dbs = [tdb.db, second.db];
    } else {
      dbs = [tdb.db, tdb.db];
    }
  });
  afterAll(async () => {
    await second?.close();
    await tdb?.close();
  });

  it('run each slot of a job exactly once between them', async () => {
    const runs: { instance: string; slot: string }[] = [];
    const logs = [captureLog(), captureLog()];
    const schedulers = ['alpha', 'beta'].map((instance, i) => {
      const log = logs[i]!.log;
      const coordinator = new DatabaseRunCoordinator({
        claims: new CronRunsRepository({ db: dbs[i]! }),
        instance,
        log,
      });
      const s = new Scheduler({ log, coordinator, instance });
      s.schedule(
        'heartbeat',
        '* * * * * *',
        async ({ slot }) => {
          runs.push({ instance, slot: slot.toISOString() });
        },
        { timeoutMs: 5_000 },
      );
      return s;
    });
    for (const s of schedulers) s.start();
    await until(() => new Set(runs.map((r) => r.slot)).size >= 4, 'four slots');
    await Promise.all(schedulers.map((s) => s.stopAll()));

    const slots = runs.map((r) => r.slot);
    expect(new Set(slots).size).toBe(slots.length);
    const claims = rowsOf<{ key: string; instance: string }>(
      await tdb.db.execute(
        sql`select key, instance from cron_runs where key like 'heartbeat:%' order by key`,
      ),
    );
    // Every slot either scheduler reached was claimed once, and run by the instance that claimed it.
    const ran = new Map(runs.map((r) => [`heartbeat:${r.slot}`, r.instance]));
    for (const [key, instance] of ran) expect(claims.find((c) => c.key === key)?.instance).toBe(instance);
    expect(claims.length).toBeGreaterThanOrEqual(ran.size);
    // Both raced for the slots: the loser of each logged it and ran nothing.
    const lost = logs
      .flatMap((l) => l.lines)
      .filter((line) => line.includes('job slot taken by another instance'));
    expect(lost.length).toBeGreaterThanOrEqual(ran.size - 1);
  });

  it('deletes claims past their retention', async () => {
    const claims = new CronRunsRepository({ db: dbs[0] });
    await claims.claim('old:2026-01-01T00:00:00.000Z', 'alpha');
    const coordinator = new DatabaseRunCoordinator({
      claims,
      instance: 'alpha',
      log: captureLog().log,
      retentionMs: 0,
      clock: { now: () => new Date(Date.now() + 60_000) },
    });
    expect(await coordinator.prune()).toBeGreaterThanOrEqual(1);
    const left = rowsOf(await tdb.db.execute(sql`select key from cron_runs where key like 'old:%'`));
    expect(left).toEqual([]);
  });
});
