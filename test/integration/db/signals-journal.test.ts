import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { NewJournalEntry, Repositories } from '../../../src/db/index.js';
import { accounts, signals } from '../../../src/db/schema/index.js';
import { clientOrderId, type OrderPlan } from '../../../src/domain/orders.js';
import type { Principal } from '../../../src/domain/types.js';
import { openTestDb, resetTestDb, type TestDb, testDrivers } from '../../helpers/db.js';
import { marketBuy, repositories, traderWithCredential } from './fixtures.js';

const principal: Principal = { platform: 'discord', userId: '1234', chatId: '99', displayName: 'ann' };
const plan: OrderPlan = {
  contract: 'MNQZ6',
  side: 'buy',
  quantity: 2,
  orderType: 'market',
  takeProfit: { kind: 'offset', ticks: 80 },
  stopLoss: { kind: 'offset', ticks: 40 },
};

describe.each(testDrivers())('SignalsRepository on %s', (driver) => {
  let t: TestDb;
  let repos: Repositories;
  beforeAll(async () => {
    t = await openTestDb(driver);
    repos = repositories(t.db);
  });
  afterAll(() => t?.close());
  beforeEach(() => resetTestDb(t.db));

  it('records a signal once: a second delivery returns created=false and the first signal', async () => {
    const input = {
      dedupKey: 'discord:interaction:1',
      source: 'command' as const,
      principal,
      body: marketBuy,
    };
    const first = await repos.signals.insertIfNew(input);
    expect(first.created).toBe(true);
    expect(first.signal).toMatchObject({ ...input, status: 'received', summary: null, finishedAt: null });

    const second = await repos.signals.insertIfNew({ ...input, body: { ...marketBuy, quantity: 99 } });
    expect(second.created).toBe(false);
    expect(second.signal.id).toBe(first.signal.id);
    expect(second.signal.body.quantity).toBe(2);
    expect(await repos.signals.recentHeads(10)).toHaveLength(1);

    // A caller that starts on the signal at once records it executing, in the same statement.
    const started = await repos.signals.insertIfNew({
      ...input,
      dedupKey: 'discord:interaction:2',
      status: 'executing',
    });
    expect(started.signal).toMatchObject({ status: 'executing', finishedAt: null });
  });

  it('settles concurrent deliveries of one signal on a single record', async () => {
    const input = { dedupKey: 'telegram:-100:7', source: 'channel' as const, principal, body: marketBuy };
    const results = await Promise.all(Array.from({ length: 8 }, () => repos.signals.insertIfNew(input)));
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.signal.id)).size).toBe(1);
  });

  it('moves a signal through its statuses and stamps the finish', async () => {
    const { signal } = await repos.signals.insertIfNew({
      dedupKey: 'k',
      source: 'webhook',
      principal,
      body: marketBuy,
    });
    expect(await repos.signals.setStatus(signal.id, 'executing')).toBe(true);
    expect((await repos.signals.get(signal.id))?.finishedAt).toBeNull();
    await repos.signals.setStatus(signal.id, 'done', { acked: 3, rejected: 1 });
    const done = await repos.signals.get(signal.id);
    expect(done).toMatchObject({ status: 'done', summary: { acked: 3, rejected: 1 } });
    expect(done?.finishedAt).toBeInstanceOf(Date);
    expect(await repos.signals.setStatus('404', 'failed')).toBe(false);
  });

  it('lists recent signals newest first', async () => {
    for (const key of ['a', 'b', 'c']) {
      await repos.signals.insertIfNew({ dedupKey: key, source: 'alert', principal, body: marketBuy });
    }
    expect((await repos.signals.recentHeads(2)).map((s) => s.dedupKey)).toEqual(['c', 'b']);
  });

  it('lists recent signals without their summaries for scans that need only status and body', async () => {
    for (const key of ['a', 'b']) {
      const { signal } = await repos.signals.insertIfNew({
        dedupKey: key,
        source: 'alert',
        principal,
        body: marketBuy,
      });
      await repos.signals.setStatus(signal.id, 'done', { accounts: 1, outcomes: [{ accountId: '1' }] });
    }
    const heads = await repos.signals.recentHeads(5);
    expect(heads.map((s) => [s.dedupKey, s.status, s.body])).toEqual([
      ['b', 'done', marketBuy],
      ['a', 'done', marketBuy],
    ]);
    for (const head of heads) expect(head).not.toHaveProperty('summary');
    expect(heads[0]?.totals).toEqual({ accounts: 1 });
    expect((await repos.signals.get(heads[0]!.id))?.summary).toMatchObject({ accounts: 1 });
  });

  it("picks one set of accounts' outcomes out of summaries", async () => {
    const outcomes = ['1', '2', '3'].map((accountId) => ({ accountId, kind: 'filled' }));
    const ids: string[] = [];
    for (const key of ['a', 'b', 'c']) {
      const { signal } = await repos.signals.insertIfNew({
        dedupKey: key,
        source: 'alert',
        principal,
        body: marketBuy,
      });
      if (key !== 'c') await repos.signals.setStatus(signal.id, 'done', { accounts: 3, outcomes });
      ids.push(signal.id);
    }
    const picked = await repos.signals.withOutcomesOf(ids, ['1', '3', '9']);
    expect(picked.map((p) => [p.dedupKey, p.totals, p.outcomes])).toEqual([
      ['c', null, []],
      ['b', { accounts: 3 }, [outcomes[0], outcomes[2]]],
      ['a', { accounts: 3 }, [outcomes[0], outcomes[2]]],
    ]);
    expect(await repos.signals.withOutcomesOf(ids, [])).toEqual([]);
  });
});

describe.each(testDrivers())('JournalRepository on %s', (driver) => {
  let t: TestDb;
  let repos: Repositories;
  let signalId: string;
  let accountIds: string[];
  beforeAll(async () => {
    t = await openTestDb(driver);
    repos = repositories(t.db);
  });
  afterAll(() => t?.close());
  beforeEach(async () => {
    await resetTestDb(t.db);
    const { user, credential } = await traderWithCredential(repos);
    const rows = Array.from({ length: 2_000 }, (_, i) => ({
      credentialId: BigInt(credential.id),
      ownerUserId: BigInt(user.id),
      brokerAccountId: `B${i}`,
      name: `acc-${i}`,
    }));
    accountIds = [];
    for (let i = 0; i < rows.length; i += 1000) {
      const inserted = await t.db
        .insert(accounts)
        .values(rows.slice(i, i + 1000))
        .returning({ id: accounts.id });
      accountIds.push(...inserted.map((r) => r.id.toString()));
    }
    const { signal } = await repos.signals.insertIfNew({
      dedupKey: 'fanout',
      source: 'command',
      principal,
      body: marketBuy,
    });
    signalId = signal.id;
  });

  /** The journal's delete trigger refused it (drizzle wraps the database error as the cause). */
  const refusedByJournal = async (deleting: Promise<unknown>) => {
    const error = await deleting.then(
      () => null,
      (e: unknown) => e as Error & { cause?: Error },
    );
    expect(error?.cause?.message ?? error?.message).toMatch(/is named by the order journal/);
  };

  const entriesFor = (ids: readonly string[]): NewJournalEntry[] =>
    ids.map((accountId) => ({
      signalId,
      accountId,
      clientOrderId: clientOrderId(signalId, accountId, 'entry', 0),
      leg: 'entry',
      seq: 0,
      state: 'planned',
      plan,
    }));

  it('journals a 2,000-account fan-out with one statement, in input order', async () => {
    const entries = entriesFor(accountIds);
    const { result, queries } = await t.recordQueries(() => repos.journal.insertMany(entries));
    expect(result).toHaveLength(2_000);
    expect(result.map((e) => e.clientOrderId)).toEqual(entries.map((e) => e.clientOrderId));
    expect(result[0]).toMatchObject({
      signalId,
      accountId: accountIds[0],
      leg: 'entry',
      seq: 0,
      state: 'planned',
      plan,
      brokerOrderIds: [],
      reason: null,
    });
    // One atomic statement, whatever the row count: no transaction around it, no chunks.
    expect(queries).toHaveLength(1);
    expect(queries[0]).toMatch(/^with\b[\s\S]*\binsert into "order_journal"/i);
    expect(await repos.journal.countsByState(signalId)).toMatchObject({ planned: 2_000, acked: 0 });
  });

  it('updates 2,000 entries with one statement, keeping omitted fields', async () => {
    const written = await repos.journal.insertMany(
      entriesFor(accountIds).map((e, i) => ({ ...e, reason: i === 1 ? 'note: kept' : null })),
    );
    const { result: updated, queries } = await t.recordQueries(() =>
      repos.journal.updateMany(
        written.map((e, i) =>
          i % 2 === 0
            ? { id: e.id, state: 'acked' as const, brokerOrderIds: [`o${i}`, `tp${i}`, `sl${i}`] }
            : {
                id: e.id,
                state: 'rejected' as const,
                ...(i === 1 ? {} : { reason: 'InvalidPrice: too far' }),
              },
        ),
      ),
    );
    expect(updated).toBe(2_000);
    expect(queries).toHaveLength(1);
    expect(queries[0]).toMatch(/^update/i);

    const after = await repos.journal.listBySignal(signalId);
    const byId = new Map(after.map((e) => [e.id, e]));
    expect(byId.get(written[0]!.id)).toMatchObject({
      state: 'acked',
      brokerOrderIds: ['o0', 'tp0', 'sl0'],
      reason: null,
    });
    expect(byId.get(written[1]!.id)).toMatchObject({
      state: 'rejected',
      brokerOrderIds: [],
      reason: 'note: kept',
    });
    expect(byId.get(written[3]!.id)).toMatchObject({ state: 'rejected', reason: 'InvalidPrice: too far' });
    expect(byId.get(written[3]!.id)!.updatedAt.getTime()).toBeGreaterThanOrEqual(
      written[3]!.updatedAt.getTime(),
    );
    expect(await repos.journal.countsByState(signalId)).toMatchObject({
      acked: 1_000,
      rejected: 1_000,
      planned: 0,
    });
  });

  it('refuses a duplicate client order id and writes nothing of that batch', async () => {
    const [first] = entriesFor(accountIds.slice(0, 1));
    await repos.journal.insertMany([first!]);
    const batch = [...entriesFor(accountIds.slice(1, 1500)), { ...first!, seq: 1 }];
    await expect(repos.journal.insertMany(batch)).rejects.toThrow();
    expect((await repos.journal.listBySignal(signalId)).map((e) => e.clientOrderId)).toEqual([
      first!.clientOrderId,
    ]);
  });

  it('lists what recovery must settle and finds entries by client order id', async () => {
    const written = await repos.journal.insertMany(entriesFor(accountIds.slice(0, 7)));
    const states = ['planned', 'sending', 'unknown', 'acked', 'rejected', 'reconciled', 'skipped'] as const;
    await repos.journal.updateMany(written.map((e, i) => ({ id: e.id, state: states[i]! })));

    expect((await repos.journal.listNonTerminal()).map((e) => e.state)).toEqual([
      'planned',
      'sending',
      'unknown',
    ]);
    const found = await repos.journal.findByClientOrderId(written[2]!.clientOrderId);
    expect(found).toMatchObject({ id: written[2]!.id, state: 'unknown' });
    expect(await repos.journal.findByClientOrderId('tc.nope')).toBeNull();
    expect(await repos.journal.countsByState()).toEqual({
      planned: 1,
      sending: 1,
      unknown: 1,
      acked: 1,
      rejected: 1,
      reconciled: 1,
      skipped: 1,
    });
  });

  it('tells whether a signal has entries without reading them', async () => {
    const { signal: other } = await repos.signals.insertIfNew({
      dedupKey: 'other',
      source: 'command',
      principal,
      body: marketBuy,
    });
    expect(await repos.journal.hasEntries(signalId)).toBe(false);
    await repos.journal.insertMany(entriesFor(accountIds.slice(0, 3)));
    expect(await repos.journal.hasEntries(signalId)).toBe(true);
    expect(await repos.journal.hasEntries(other.id)).toBe(false);
    expect(await repos.journal.hasEntries('not-an-id')).toBe(false);
  });

  it('keeps the accounts and signals it names: deleting one fails, deleting an unnamed one works', async () => {
    await repos.journal.insertMany(entriesFor(accountIds.slice(0, 2)));
    const named = BigInt(accountIds[0]!);
    const unnamed = BigInt(accountIds[2]!);
    await refusedByJournal(t.db.delete(accounts).where(eq(accounts.id, named)));
    await refusedByJournal(t.db.delete(signals).where(eq(signals.id, BigInt(signalId))));
    // The credential's accounts go with it through their own foreign key: refused as a whole.
    const account = await repos.accounts.get(accountIds[0]!);
    await refusedByJournal(repos.credentials.delete(account!.credentialId));
    expect(await repos.accounts.get(accountIds[0]!)).not.toBeNull();
    expect(await repos.accounts.get(accountIds[2]!)).not.toBeNull();
    expect(await repos.journal.listBySignal(signalId)).toHaveLength(2);

    const removed = await t.db.delete(accounts).where(eq(accounts.id, unnamed)).returning();
    expect(removed).toHaveLength(1);
    const { signal: idle } = await repos.signals.insertIfNew({
      dedupKey: 'never-journaled',
      source: 'command',
      principal,
      body: marketBuy,
    });
    expect(
      await t.db
        .delete(signals)
        .where(eq(signals.id, BigInt(idle.id)))
        .returning(),
    ).toHaveLength(1);
  });

  it('does nothing for empty batches', async () => {
    expect(await repos.journal.insertMany([])).toEqual([]);
    expect(await repos.journal.updateMany([])).toBe(0);
  });
});
