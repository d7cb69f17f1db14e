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
