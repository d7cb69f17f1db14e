/**
 * One service per database: a PGlite folder is held by a lock file naming its process (taken over at
 * once when that process is gone), and a PostgreSQL schema by a session advisory lock.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DatabaseInUse, type OpenedDatabase, openDatabase } from '../../../src/db/index.js';
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
  afterEach(async () => {
    for (const db of opened.splice(0)) await db.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  it('is held by one process: another open is refused, naming the holder, until it is closed', async () => {
    dir = await mkdtemp(join(tmpdir(), 'tradecast-lock-'));
    const first = await open();
    const lock = join(dir, 'pglite.lock');
    expect(JSON.parse(readFileSync(lock, 'utf8'))).toMatchObject({ pid: process.pid });
    // A running process named in the lock stands for a second service holding the folder.
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)']);
    try {
      writeFileSync(lock, JSON.stringify({ pid: holder.pid, host: 'here', since: 'now' }));
      const refused = await open().catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(DatabaseInUse);
      expect((refused as Error).message).toMatch(
        new RegExp(`is in use by process ${holder.pid} on here .*delete .*pglite\\.lock`),
      );
      // The refused open left the holder's lock as it was.
      expect(JSON.parse(readFileSync(lock, 'utf8'))).toMatchObject({ pid: holder.pid });
    } finally {
      holder.kill();
    }
    writeFileSync(lock, JSON.stringify({ pid: process.pid }));
    await first.close();
    expect(existsSync(lock)).toBe(false);
    await open();
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
  it('is held by one session: another exclusive open is refused, naming it; plain opens are not', async () => {
    const url = process.env.TEST_DATABASE_URL!;
    const schemaName = `test_lock_${Date.now().toString(36)}`;
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
});
