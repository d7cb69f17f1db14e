/**
 * One service per database: a PGlite folder is held by a lock file naming its process (taken over at
 * once when that process is gone), and a PostgreSQL schema by a session advisory lock.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterEach, describe, expect, it } from 'vitest';
import { DatabaseInUse, type OpenedDatabase, openDatabase } from '../../../src/db/index.js';
import { waitFor } from '../../helpers/app.js';
import { testDrivers } from '../../helpers/db.js';

/** The id of a process that has ended. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
    encoding: 'utf8',
  });
  return Number(child.stdout);
}

describe('a PGlite folder', () => {
  let dir = '';
  const opened: OpenedDatabase[] = [];
  const open = async () => {
    const db = await openDatabase({ dataDir: join(dir, 'pglite') });
    opened.push(db);
    return db;
  };
  const refusal = () =>
    open().then(
      () => null,
      (e: unknown) => e,
    );
  afterEach(async () => {
    for (const db of opened.splice(0)) await db.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  it('is held while open, even against a second open in the same process, and let go on close', async () => {
    dir = await mkdtemp(join(tmpdir(), 'tradecast-lock-'));
    const first = await open();
    const lock = join(dir, 'pglite.lock');
    expect(JSON.parse(readFileSync(lock, 'utf8'))).toMatchObject({ pid: process.pid });
    const refused = await refusal();
    expect(refused).toBeInstanceOf(DatabaseInUse);
    expect((refused as Error).message).toMatch(/pglite is already open in this process/);
    await first.close();
    expect(existsSync(lock)).toBe(false);
    await open();
  });

  it('held by another running process is refused, naming it, and left as it was', async () => {
    dir = await mkdtemp(join(tmpdir(), 'tradecast-lock-'));
    const lock = join(dir, 'pglite.lock');
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)']);
    const held = JSON.stringify({ pid: holder.pid, host: 'host-a', since: 'this morning' });
    try {
      writeFileSync(lock, held);
      const refused = await refusal();
      expect(refused).toBeInstanceOf(DatabaseInUse);
      expect((refused as Error).message).toMatch(
        new RegExp(`is in use by process ${holder.pid} on host-a .*delete .*pglite\\.lock`),
      );
      expect(readFileSync(lock, 'utf8')).toBe(held);
    } finally {
      holder.kill();
      await new Promise((resolve) => holder.once('exit', resolve));
    }
    // Its process gone, the folder is taken over at once.
    await open();
    expect(JSON.parse(readFileSync(lock, 'utf8'))).toMatchObject({ pid: process.pid });
  });

  it('that does not exist yet, nor its parents, is made and held', async () => {
    dir = await mkdtemp(join(tmpdir(), 'tradecast-lock-'));
    const db = await openDatabase({ dataDir: join(dir, 'a', 'b', 'pglite') });
    opened.push(db);
    expect(JSON.parse(readFileSync(join(dir, 'a', 'b', 'pglite.lock'), 'utf8'))).toMatchObject({
      pid: process.pid,
    });
  });

  it('left locked by a process that is gone (or by a half-written file) is taken over at once', async () => {
    dir = await mkdtemp(join(tmpdir(), 'tradecast-lock-'));
    const lock = join(dir, 'pglite.lock');
    writeFileSync(lock, JSON.stringify({ pid: deadPid(), host: 'here', since: 'before' }));
    const db = await open();
    expect(JSON.parse(readFileSync(lock, 'utf8'))).toMatchObject({ pid: process.pid });
    await db.close();
    writeFileSync(lock, '{"pid":');
    await open();
    expect(JSON.parse(readFileSync(lock, 'utf8'))).toMatchObject({ pid: process.pid });
  });
});

describe.runIf(testDrivers().includes('postgres'))('a PostgreSQL schema opened exclusively', () => {
  const url = process.env.TEST_DATABASE_URL!;
  const schema = () => `test_lock_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 6)}`;
  /** Sessions holding the schema's lock, by backend pid. */
  const holders = async (admin: postgres.Sql, schemaName: string) =>
    (
      await admin<{ pid: number }[]>`
        select l.pid from pg_locks l
        where l.locktype = 'advisory' and l.granted and l.objsubid = 1
          and l.objid::text::bigint = hashtext(${`tradecast:instance:${schemaName}`})::bigint & 4294967295`
    ).map((r) => r.pid);

  it('is held by one session: another exclusive open is refused, naming it; plain opens are not', async () => {
    const schemaName = schema();
    const first = await openDatabase({ url, schemaName, exclusive: true });
    const plain = await openDatabase({ url, schemaName });
    try {
      const refused = await openDatabase({ url, schemaName, exclusive: true }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(DatabaseInUse);
      expect((refused as Error).message).toMatch(
        new RegExp(`schema ${schemaName} is in use by tradecast \\S+ pid ${process.pid} .*\\(since \\d{4}-`),
      );
      // Another schema is another database.
      const other = await openDatabase({ url, schemaName: `${schemaName}_b`, exclusive: true });
      await other.close();
    } finally {
      await plain.close();
      await first.close();
    }
    const again = await openDatabase({ url, schemaName, exclusive: true });
    await again.close();
  });

  it('is taken again on a new session after the server drops its own, and says so when another took it meanwhile', async () => {
    const schemaName = schema();
    const admin = postgres(url, { max: 1, onnotice: () => {} });
    const lost: string[] = [];
    const db = await openDatabase({
      url,
      schemaName,
      exclusive: true,
      holdCheckMs: 50,
      onHoldLost: (message) => lost.push(message),
    });
    try {
      const [first] = await holders(admin, schemaName);
      expect(first).toBeDefined();
      await admin`select pg_terminate_backend(${first!})`;
      const [second] = await waitFor(async () => {
        const now = await holders(admin, schemaName);
        return now.length === 1 && now[0] !== first ? now : null;
      }, 'the hold taken again on a new session');
      expect(
        await openDatabase({ url, schemaName, exclusive: true }).catch((e: unknown) => e),
      ).toBeInstanceOf(DatabaseInUse);
      expect(lost).toEqual([]);

      // Dropped again, and another session is queued for the lock: it gets it, and the loss is told.
      const thief = postgres(url, { max: 1, onnotice: () => {} });
      try {
        // postgres.js sends a query only when asked for its answer, or told to now.
        const taking =
          thief`select pg_advisory_lock(hashtext(${`tradecast:instance:${schemaName}`}))`.execute();
        await waitFor(
          async () =>
            (await admin`select 1 from pg_locks where locktype = 'advisory' and not granted`).length > 0,
          'the other session waiting for the lock',
        );
        await admin`select pg_terminate_backend(${second!})`;
        await taking;
        await waitFor(() => lost.length > 0, 'the loss to be told');
        expect(lost[0]).toMatch(new RegExp(`hold on the database schema ${schemaName} was lost`));
      } finally {
        await thief.end();
      }
    } finally {
      await db.close();
      await admin.end();
    }
  });
});
