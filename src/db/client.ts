/**
 * The database handle: PostgreSQL through postgres.js when a URL is configured, otherwise PGlite
 * (PostgreSQL compiled to WASM) in a local folder or in memory. Both drivers give the same `Db` type
 * and run the same migrations, which are applied on every open (already applied ones are skipped).
 */
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import { type MigrationConfig, type MigrationMeta, readMigrationFiles } from 'drizzle-orm/migrator';
import { type PgDatabase, PgDialect, type PgQueryResultHKT, type PgSession } from 'drizzle-orm/pg-core';
import { holdDataDir, holdSchema, ownerName } from './instance-lock.js';
import * as schema from './schema/index.js';

/** The drizzle database both drivers produce. Only `src/db/` may use it. */
export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;

export type DriverName = 'pglite' | 'postgres';

export interface OpenDatabaseOptions {
  /** A PostgreSQL connection URL; when set, postgres.js is used and `dataDir` is ignored. */
  readonly url?: string;
  /** PGlite's data folder; undefined keeps the database in memory (gone when closed). */
  readonly dataDir?: string;
  /**
   * A schema to hold every table and the migration record, created when missing. Lets several
   * databases share one server (each test file gets its own). Lowercase letters, digits and `_`.
   */
  readonly schemaName?: string;
  /** postgres.js pool size; defaults to 10. */
  readonly maxConnections?: number;
  /** Called with the SQL text of every query (not its parameters, which may hold secrets); for tests and debugging. */
  readonly onQuery?: (query: string) => void;
  /**
   * PostgreSQL only: hold the database (the schema) for this process while it is open, so a second
   * process opening it with `exclusive` is refused. A PGlite folder is always held: two processes on
   * one folder would corrupt it.
   */
  readonly exclusive?: boolean;
  /**
   * With `exclusive`: told when the hold, checked every `holdCheckMs`, was found lost (the server dropped
   * the session) and could not be taken again because another process has it.
   */
  readonly onHoldLost?: (message: string) => void;
  /** With `exclusive`: how often the hold is checked, ms (default a minute). */
  readonly holdCheckMs?: number;
}

export interface OpenedDatabase {
  readonly db: Db;
  readonly driver: DriverName;
  /** Closes the pool or the PGlite instance. */
  close(): Promise<void>;
}

const MIGRATIONS_FOLDER = fileURLToPath(new URL('./migrations', import.meta.url));
const MIGRATIONS_TABLE = '__drizzle_migrations';
const DEFAULT_MIGRATIONS_SCHEMA = 'drizzle';
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Opens the database and applies pending migrations.
 *
 * @throws when the schema name is invalid, the server is unreachable, or a migration fails.
 */
export async function openDatabase(options: OpenDatabaseOptions = {}): Promise<OpenedDatabase> {
  const { schemaName } = options;
  if (schemaName !== undefined && !SCHEMA_NAME.test(schemaName)) {
    throw new Error(`Invalid schema name "${schemaName}": use lowercase letters, digits and _ only`);
  }
  return options.url ? openPostgres(options.url, options) : openPglite(options);
}

function drizzleConfig(options: OpenDatabaseOptions) {
  const { onQuery } = options;
  return onQuery ? { schema, logger: { logQuery: (query: string) => onQuery(query) } } : { schema };
}

async function openPostgres(url: string, options: OpenDatabaseOptions): Promise<OpenedDatabase> {
  const { schemaName } = options;
  const { default: postgres } = await import('postgres');
  const { drizzle } = await import('drizzle-orm/postgres-js');
  const connection = schemaName ? { search_path: schemaName } : {};
  const ignoreNotice = () => {};

  // Migrations run on a dedicated single connection: the advisory lock that keeps two starting
  // instances from migrating at once belongs to a session, and ending the session releases it, even
  // when a migration fails halfway.
  const migrationClient = postgres(url, { max: 1, onnotice: ignoreNotice, connection });
  try {
    const migrationDb: Db = drizzle(migrationClient, { schema });
    await migrationDb.execute(
      sql`select pg_advisory_lock(hashtext(${`tradecast:migrate:${schemaName ?? 'public'}`}))`,
    );
    if (schemaName) await migrationDb.execute(sql`create schema if not exists ${sql.identifier(schemaName)}`);
    await applyMigrations(migrationDb, schemaName);
  } finally {
    await migrationClient.end();
  }

  // The hold is a session lock on a connection of its own, named so a refused process can say who
  // holds it, and never recycled (postgres.js would otherwise end it after 30 to 60 minutes).
  const release = options.exclusive
    ? await holdSchema(
        postgres(url, {
          max: 1,
          max_lifetime: null,
          idle_timeout: 0,
          onnotice: ignoreNotice,
          connection: { ...connection, application_name: ownerName() },
        }),
        schemaName,
        {
          ...(options.onHoldLost ? { onLost: options.onHoldLost } : {}),
          ...(options.holdCheckMs ? { checkMs: options.holdCheckMs } : {}),
        },
      )
    : null;
  const client = postgres(url, { max: options.maxConnections ?? 10, onnotice: ignoreNotice, connection });
  const db: Db = drizzle(client, drizzleConfig(options));
  return {
    db,
    driver: 'postgres',
    close: async () => {
      await client.end();
      await release?.();
    },
  };
}

async function openPglite(options: OpenDatabaseOptions): Promise<OpenedDatabase> {
  const { PGlite } = await import('@electric-sql/pglite');
  const { drizzle } = await import('drizzle-orm/pglite');
  const release = options.dataDir ? holdDataDir(options.dataDir) : () => {};
  let client: Awaited<ReturnType<typeof PGlite.create>>;
  try {
    client = await PGlite.create(options.dataDir);
  } catch (error) {
    release();
    throw error;
  }
  const close = async () => {
    try {
      await client.close();
    } finally {
      release();
    }
  };
  try {
    const db: Db = drizzle(client, drizzleConfig(options));
    const { schemaName } = options;
    if (schemaName) {
      // PGlite has exactly one session, so setting the path once covers every later query.
      await db.execute(sql`create schema if not exists ${sql.identifier(schemaName)}`);
      await db.execute(sql`set search_path to ${sql.identifier(schemaName)}`);
    }
    await applyMigrations(db, schemaName);
    return { db, driver: 'pglite', close };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * Applies the committed migrations. drizzle-kit writes foreign keys as `REFERENCES "public"."x"`,
 * which would point a non-default schema's tables at `public`; those references are retargeted to
 * the chosen schema. The migration hashes are those of the files as committed.
 */
async function applyMigrations(db: Db, schemaName: string | undefined): Promise<void> {
  const config: MigrationConfig = {
    migrationsFolder: MIGRATIONS_FOLDER,
    migrationsTable: MIGRATIONS_TABLE,
    migrationsSchema: schemaName ?? DEFAULT_MIGRATIONS_SCHEMA,
  };
  let migrations: MigrationMeta[] = readMigrationFiles(config);
  if (schemaName) {
    const target = `"${schemaName}".`;
    migrations = migrations.map((m) => ({ ...m, sql: m.sql.map((s) => s.replaceAll('"public".', target)) }));
  }
  // The session's type parameters describe the relational schema, which migrating does not use.
  const session = db._.session as unknown as PgSession;
  await new PgDialect().migrate(migrations, session, config);
}

/** Readiness check: true when a trivial query succeeds. Never throws. */
export async function ping(db: Db): Promise<boolean> {
  try {
    await db.execute(sql`select 1`);
    return true;
  } catch {
    return false;
  }
}
