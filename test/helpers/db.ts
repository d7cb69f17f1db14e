/**
 * Databases for tests. PGlite always runs; PostgreSQL runs too when TEST_DATABASE_URL is set. On
 * PostgreSQL each opened database lives in its own randomly named schema, dropped on close, so test
 * files can run in parallel against one server. PGlite takes seconds to start: open one per file
 * (in `beforeAll`) and call {@link resetTestDb} between tests.
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { type Db, type DriverName, openDatabase } from '../../src/db/index.js';

export type TestDriver = DriverName;

export interface TestDb {
  readonly db: Db;
  readonly driver: TestDriver;
  /** The schema holding the tables on PostgreSQL; undefined on PGlite. */
  readonly schemaName: string | undefined;
  /** Runs `fn` and returns its result with the SQL text of every query it ran. */
  recordQueries<T>(fn: () => Promise<T>): Promise<{ result: T; queries: string[] }>;
  /** Closes the database; on PostgreSQL its schema is dropped first. */
  close(): Promise<void>;
}

/** The drivers to run storage tests on: PGlite, plus PostgreSQL when TEST_DATABASE_URL is set. */
export function testDrivers(): TestDriver[] {
  return process.env.TEST_DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];
}

/** Opens a fresh, migrated, empty database on `driver`. */
export async function openTestDb(driver: TestDriver): Promise<TestDb> {
  let recording: string[] | null = null;
  const onQuery = (query: string) => recording?.push(query);
  let schemaName: string | undefined;
  let opened: Awaited<ReturnType<typeof openDatabase>>;
  if (driver === 'postgres') {
    const url = process.env.TEST_DATABASE_URL;
    if (!url) throw new Error('TEST_DATABASE_URL is not set');
    schemaName = `test_${randomBytes(6).toString('hex')}`;
    opened = await openDatabase({ url, schemaName, maxConnections: 4, onQuery });
  } else {
    opened = await openDatabase({ onQuery });
  }
  const { db } = opened;
  return {
    db,
    driver,
    schemaName,
    async recordQueries(fn) {
      const queries: string[] = [];
      recording = queries;
      try {
        return { result: await fn(), queries };
      } finally {
        recording = null;
      }
    },
    async close() {
      try {
        if (schemaName) await db.execute(sql`drop schema if exists ${sql.identifier(schemaName)} cascade`);
      } finally {
        await opened.close();
      }
    },
  };
}

const TABLES = [
  'audit_events',
  'order_journal',
  'signals',
  'subscriptions',
  'channel_providers',
  'channels',
  'accounts',
  'credentials',
  'identities',
  'user_roles',
  'users',
  'settings',
  'cron_runs',
];

/** Empties every table and restarts the id sequences, so each test starts from nothing. */
export async function resetTestDb(db: Db): Promise<void> {
  await db.execute(
    sql.raw(`truncate table ${TABLES.map((t) => `"${t}"`).join(', ')} restart identity cascade`),
  );
}

/** The rows of a raw `db.execute` result, whichever driver produced it. */
export function rowsOf<T = Record<string, unknown>>(result: unknown): T[] {
  if (Array.isArray(result)) return result as T[];
  return (result as { rows: T[] }).rows;
}
