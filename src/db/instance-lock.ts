/**
 * One service per database. Two processes on one database would both run the engine's recovery and
 * both answer the same chat, and on the embedded database they would also corrupt it: PGlite keeps
 * its buffers and write-ahead log in the process that opened the folder and takes no lock of its own,
 * so a second process opening the folder writes over the first one's pages.
 *
 * - A PGlite folder is held by a file beside it (`<folder>.lock`) naming the owner's process id, as
 *   PostgreSQL's `postmaster.pid` does: a file whose process is gone (a crash, a `kill -9`) is taken
 *   over at once, with no wait for a lock to expire by age.
 * - A PostgreSQL database (one schema of it) is held by a session advisory lock on a connection of
 *   its own, released by the server when that connection ends, however the process ended.
 */
import {
  closeSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import type { Sql } from 'postgres';

/** The database is held by another process; nothing was opened. */
export class DatabaseInUse extends Error {
  override readonly name = 'DatabaseInUse';
}

interface Owner {
  readonly pid: number;
  readonly host: string;
  readonly since: string;
}

/** What a session that holds a database calls itself (PostgreSQL's `application_name`). */
export function ownerName(): string {
  return `tradecast ${hostname()} pid ${process.pid}`;
}

function readOwner(path: string): Owner | null {
  try {
    const owner = JSON.parse(readFileSync(path, 'utf8')) as Partial<Owner>;
    return typeof owner.pid === 'number' && Number.isSafeInteger(owner.pid) && owner.pid > 0
      ? { pid: owner.pid, host: String(owner.host ?? '?'), since: String(owner.since ?? '?') }
      : null;
  } catch {
    return null;
  }
}

/** Folders this process holds. */
const heldHere = new Set<string>();

/**
 * Whether a process with this id runs on this machine (it may be another program after a reboot).
 * Our own id in a file we do not hold is an earlier process's (a container's first process always
 * gets the same id).
 */
function running(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function inUse(dataDir: string, path: string, owner: Owner): DatabaseInUse {
  return new DatabaseInUse(
    `the database folder ${dataDir} is in use by process ${owner.pid} on ${owner.host} (since ${owner.since}). ` +
      `Stop that process first, or point DATA_DIR elsewhere. If no such process runs, delete ${path}.`,
  );
}

/**
 * Holds a PGlite folder for this process until the returned function is called.
 *
 * @throws {DatabaseInUse} when a running process holds it.
 */
export function holdDataDir(dataDir: string): () => void {
  const path = `${dataDir}.lock`;
  if (heldHere.has(path)) {
    throw new DatabaseInUse(`the database folder ${dataDir} is already open in this process`);
  }
  const mine: Owner = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
  // PGlite makes a missing folder with its parents; the lock beside it needs them first.
  mkdirSync(dirname(path), { recursive: true });
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      try {
        writeSync(fd, `${JSON.stringify(mine)}\n`);
      } finally {
        closeSync(fd);
      }
      heldHere.add(path);
      return () => {
        if (!heldHere.delete(path)) return;
        if (readOwner(path)?.pid === process.pid) unlinkSync(path);
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = readOwner(path);
    if (owner && running(owner.pid)) throw inUse(dataDir, path, owner);
    // Left by a process that is gone (or half written by one that died writing it). Two processes
    // may find it at once: each moves it aside under its own name, which only one can do, and the
    // one that finds it moved a live owner's file (written meanwhile by the other) puts it back.
    const aside = `${path}.${process.pid}`;
    try {
      renameSync(path, aside);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    const moved = readOwner(aside);
    if (moved && running(moved.pid)) {
      try {
        linkSync(aside, path);
      } finally {
        unlinkSync(aside);
      }
      throw inUse(dataDir, path, moved);
    }
    unlinkSync(aside);
  }
  const owner = readOwner(path);
  throw owner
    ? inUse(dataDir, path, owner)
    : new DatabaseInUse(`could not take the lock ${path} for the database folder ${dataDir}`);
}

export interface SchemaHoldOptions {
  /** Told when the hold was found lost and another process has it now. */
  readonly onLost?: (message: string) => void;
  /** How often the hold is checked, ms (default a minute). */
  readonly checkMs?: number;
}

/**
 * Holds a PostgreSQL schema with a session advisory lock on `session`, a connection of its own that
 * is never recycled, until the returned function ends it. Every `checkMs` the hold is checked: a
 * session the server dropped (a restart, a network cut) no longer holds it, and postgres.js opens a
 * new one for the next query, on which the lock is taken again.
 *
 * @throws {DatabaseInUse} when another session holds it (`session` is ended then).
 */
export async function holdSchema(
  session: Sql,
  schemaName: string | undefined,
  options: SchemaHoldOptions = {},
): Promise<() => Promise<void>> {
  const key = `tradecast:instance:${schemaName ?? 'public'}`;
  const what = `the database${schemaName ? ` schema ${schemaName}` : ''}`;
  // The lock's row in pg_locks: a bigint key is split over classid (high half) and objid (low half).
  const ours = () => session`l.locktype = 'advisory' and l.granted and l.objsubid = 1
    and l.classid::text::bigint = (hashtext(${key})::bigint >> 32) & 4294967295
    and l.objid::text::bigint = hashtext(${key})::bigint & 4294967295`;
  try {
    const [row] = await session<{ held: boolean }[]>`select pg_try_advisory_lock(hashtext(${key})) as held`;
    if (!row?.held) {
      const [owner] = await session<{ name: string; since: Date | null; addr: string | null }[]>`
        select a.application_name as name, a.backend_start as since, a.client_addr::text as addr
        from pg_locks l join pg_stat_activity a on a.pid = l.pid
        where ${ours()}`;
      const who = owner
        ? `${owner.name || 'a session'}${owner.addr ? ` from ${owner.addr}` : ''}${owner.since ? ` (since ${owner.since.toISOString()})` : ''}`
        : 'another session';
      throw new DatabaseInUse(
        `${what} is in use by ${who}. One service runs per database: stop the other one first.`,
      );
    }
  } catch (error) {
    await session.end();
    throw error;
  }
  const watch = setInterval(() => {
    void (async () => {
      const [row] = await session<{ held: boolean }[]>`
        select exists (select 1 from pg_locks l where l.pid = pg_backend_pid() and ${ours()})
          or pg_try_advisory_lock(hashtext(${key})) as held`;
      if (!row?.held) options.onLost?.(`the hold on ${what} was lost and another process has it now`);
    })().catch(() => undefined);
  }, options.checkMs ?? 60_000);
  watch.unref();
  return async () => {
    clearInterval(watch);
    await session.end();
  };
}
