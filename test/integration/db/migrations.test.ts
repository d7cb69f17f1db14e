import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, ping } from '../../../src/db/index.js';
import { accounts, signals, userRoles, users } from '../../../src/db/schema/index.js';
import { openTestDb, rowsOf, type TestDb, testDrivers } from '../../helpers/db.js';

/** How many migrations drizzle-kit has generated: each must be recorded exactly once. */
const MIGRATIONS = (
  JSON.parse(
    readFileSync(new URL('../../../src/db/migrations/meta/_journal.json', import.meta.url), 'utf8'),
  ) as {
    entries: unknown[];
  }
).entries.length;

describe.each(testDrivers())('migrations on %s', (driver) => {
  let t: TestDb;
  beforeAll(async () => {
    t = await openTestDb(driver);
  });
  afterAll(() => t?.close());

  it('creates every table and answers a readiness ping', async () => {
    expect(await ping(t.db)).toBe(true);
    const [user] = await t.db.insert(users).values({ displayName: 'someone' }).returning();
    expect(user?.id).toBe(1n);
  });

  it('enforces foreign keys inside the database schema', async () => {
    await expect(
      t.db.insert(accounts).values({ credentialId: 999n, ownerUserId: 1n, brokerAccountId: 'x', name: 'x' }),
    ).rejects.toThrow();
  });

  it('fills in the totals of summaries stored before signals had them', async () => {
    // A done signal as stored before the column existed: a summary, no totals.
    const storedBefore = async (dedupKey: string, summary: Record<string, unknown>) => {
      const [row] = await t.db
        .insert(signals)
        .values({
          dedupKey,
          source: 'command',
          principal: { platform: 'console', userId: 'x' },
          body: { action: 'flatten', symbol: null, quantity: 0, entry: { type: 'market' }, target: {} },
          status: 'done',
          summary,
        })
        .returning();
      return row!.id;
    };
    const totalsOf = async (id: bigint) =>
      (await t.db.select().from(signals).where(eq(signals.id, id)))[0]?.totals;
    const plain = await storedBefore('before-totals', {
      accounts: 2,
      flat: 2,
      outcomes: [{ accountId: '1' }, { accountId: '2' }],
    });
    // A NUL escape is valid json but not jsonb: such a summary is left without totals, not an error.
    const odd = await storedBefore('before-totals-nul', {
      accounts: 1,
      outcomes: [{ accountId: '1', reason: 'venue said \u0000' }],
    });
    const migration = readFileSync(
      new URL('../../../src/db/migrations/0005_signal_totals.sql', import.meta.url),
      'utf8',
    );
    await t.db.execute(sql.raw(migration.split('--> statement-breakpoint')[1]!));
    expect(await totalsOf(plain)).toEqual({ accounts: 2, flat: 2 });
    expect(await totalsOf(odd)).toBeNull();
  });

  it('enforces check constraints on vocabulary columns', async () => {
    const [user] = await t.db.insert(users).values({ displayName: 'checked' }).returning();
    await expect(
      t.db.insert(userRoles).values({ userId: user!.id, role: 'superuser' as 'admin', grantedBy: null }),
    ).rejects.toThrow();
  });
});

describe('re-opening a migrated database', () => {
  it('on PGlite applies the migrations once and keeps the data', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'tradecast-pglite-'));
    try {
      const first = await openDatabase({ dataDir });
      await first.db.insert(users).values({ displayName: 'kept' });
      await first.close();

      const second = await openDatabase({ dataDir });
      const migrations = rowsOf<{ n: number }>(
        await second.db.execute(sql`select count(*)::int as n from drizzle.__drizzle_migrations`),
      );
      const kept = await second.db.select().from(users);
      await second.close();
      expect(migrations[0]?.n).toBe(MIGRATIONS);
      expect(kept.map((u) => u.displayName)).toEqual(['kept']);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it.runIf(testDrivers().includes('postgres'))(
    'on PostgreSQL applies the migrations once per schema',
    async () => {
      const t = await openTestDb('postgres');
      try {
        const again = await openDatabase({ url: process.env.TEST_DATABASE_URL!, schemaName: t.schemaName! });
        await again.close();
        const rows = rowsOf<{ n: number }>(
          await t.db.execute(
            sql`select count(*)::int as n from ${sql.identifier(t.schemaName!)}.__drizzle_migrations`,
          ),
        );
        expect(rows[0]?.n).toBe(MIGRATIONS);
      } finally {
        await t.close();
      }
    },
  );

  it.runIf(testDrivers().includes('postgres'))('on PostgreSQL lets two instances start at once', async () => {
    const url = process.env.TEST_DATABASE_URL!;
    const schemaName = `test_race_${Date.now().toString(36)}`;
    const [a, b] = await Promise.all([openDatabase({ url, schemaName }), openDatabase({ url, schemaName })]);
    try {
      const rows = rowsOf<{ n: number }>(
        await a.db.execute(
          sql`select count(*)::int as n from ${sql.identifier(schemaName)}.__drizzle_migrations`,
        ),
      );
      expect(rows[0]?.n).toBe(MIGRATIONS);
    } finally {
      await a.db.execute(sql`drop schema if exists ${sql.identifier(schemaName)} cascade`);
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('rejects a schema name that is not a plain identifier', async () => {
    await expect(openDatabase({ schemaName: 'x; drop table users' })).rejects.toThrow(/Invalid schema name/);
  });

  it('reports a closed database as not ready', async () => {
    const opened = await openDatabase();
    await opened.close();
    expect(await ping(opened.db)).toBe(false);
  });
});
