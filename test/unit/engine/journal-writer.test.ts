import { describe, expect, it } from 'vitest';
import { JournalInserter, JournalWriter } from '../../../src/engine/journal-writer.js';
import type { JournalStore, JournalUpdate, NewJournalEntry } from '../../../src/engine/stores.js';

/** A journal store that records each statement and can be made to fail or to hold its writes. */
function store(options: { fail?: boolean } = {}) {
  const statements: JournalUpdate[][] = [];
  const journal: JournalStore = {
    insertMany: async () => [],
    listBySignal: async () => [],
    hasEntries: async () => false,
    listNonTerminal: async () => [],
    updateMany: async (updates) => {
      statements.push([...updates]);
      if (options.fail) throw new Error('database gone');
      return updates.length;
    },
  };
  return { journal, statements };
}

const acked = (id: string): JournalUpdate => ({
  id,
  state: 'acked',
  brokerOrderIds: [`b${id}`],
  reason: null,
});

describe('JournalWriter', () => {
  it('writes the updates of one window in one statement, and resolves each once written', async () => {
    const { journal, statements } = store();
    const writer = new JournalWriter({ store: journal, maxDelayMs: 20 });
    const written: string[] = [];
    const pending = ['1', '2', '3'].map((id) => writer.update([acked(id)]).then(() => written.push(id)));
    await new Promise((r) => setTimeout(r, 5));
    expect(statements).toHaveLength(0);
    await Promise.all(pending);
    expect(statements.map((s) => s.map((u) => u.id))).toEqual([['1', '2', '3']]);
    expect(written.sort()).toEqual(['1', '2', '3']);
  });

  it('writes at once when a batch is full, and keeps only the last change of a row in a statement', async () => {
    const { journal, statements } = store();
    const writer = new JournalWriter({ store: journal, maxBatch: 3, maxDelayMs: 10_000 });
    const done = writer.update([acked('1'), { id: '1', state: 'unknown', reason: 'timeout' }, acked('2')]);
    await done;
    expect(statements).toEqual([[{ id: '1', state: 'unknown', reason: 'timeout' }, acked('2')]]);
  });

  it('flush writes what is waiting without waiting for the window', async () => {
    const { journal, statements } = store();
    const writer = new JournalWriter({ store: journal, maxDelayMs: 10_000 });
    void writer.update([acked('1')]);
    void writer.update([acked('2')]);
    const started = performance.now();
    await writer.flush();
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(statements.flat().map((u) => u.id)).toEqual(['1', '2']);
  });

  it('rejects every waiting update when its statement fails', async () => {
    const { journal } = store({ fail: true });
    const writer = new JournalWriter({ store: journal, maxDelayMs: 1 });
    const results = await Promise.allSettled([writer.update([acked('1')]), writer.update([acked('2')])]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });
});

describe('JournalInserter', () => {
  /** A journal store whose inserts are held until released, and which refuses marked client order ids. */
  function rows(refuse: ReadonlySet<string> = new Set()) {
    const statements: string[][] = [];
    const held: (() => void)[] = [];
    let hold = false;
    const journal: JournalStore = {
      insertMany: async (entries) => {
        statements.push(entries.map((e) => e.clientOrderId));
        if (hold) await new Promise<void>((resolve) => held.push(resolve));
        if (entries.some((e) => refuse.has(e.clientOrderId))) throw new Error('duplicate client order id');
        return entries.map((e, i) => ({
          ...e,
          id: `${statements.length}.${i}`,
          brokerOrderIds: [],
          reason: e.reason ?? null,
          createdAt: new Date(0),
          updatedAt: new Date(0),
        }));
      },
      updateMany: async () => 0,
      listBySignal: async () => [],
      hasEntries: async () => false,
      listNonTerminal: async () => [],
    };
    const release = () => {
      for (const r of held.splice(0)) r();
    };
    return { journal, statements, holdWrites: (on: boolean) => (hold = on), release };
  }
  const row = (cid: string): NewJournalEntry => ({
    signalId: '1',
    accountId: '1',
    clientOrderId: cid,
    leg: 'cancel',
    seq: 1,
    state: 'planned',
    plan: { contract: 'MNQZ6', side: null, quantity: 1 },
  });

  it('journals the rows of one turn in one statement and gives each program its own row', async () => {
    const { journal, statements } = rows();
    const inserter = new JournalInserter({ store: journal });
    const written = await Promise.all(['a', 'b', 'c'].map((cid) => inserter.insert(row(cid))));
    expect(statements).toEqual([['a', 'b', 'c']]);
    expect(written.map((r) => [r.clientOrderId, r.id])).toEqual([
      ['a', '1.0'],
      ['b', '1.1'],
      ['c', '1.2'],
    ]);
  });

  it('rows arriving while the statements in flight are at their limit go together in the next one', async () => {
    const { journal, statements, holdWrites, release } = rows();
    const inserter = new JournalInserter({ store: journal, maxInFlight: 1 });
    holdWrites(true);
    const first = inserter.insert(row('a'));
    await new Promise((r) => setTimeout(r, 5));
    const later = ['b', 'c', 'd'].map((cid) => inserter.insert(row(cid)));
    await new Promise((r) => setTimeout(r, 5));
    expect(statements).toEqual([['a']]);
    holdWrites(false);
    release();
    await Promise.all([first, ...later]);
    expect(statements).toEqual([['a'], ['b', 'c', 'd']]);
  });

  it('a refused row fails only its own insert: the others of its statement are written alone', async () => {
    const { journal, statements } = rows(new Set(['b']));
    const inserter = new JournalInserter({ store: journal });
    const results = await Promise.allSettled(['a', 'b', 'c'].map((cid) => inserter.insert(row(cid))));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(statements).toEqual([['a', 'b', 'c'], ['a'], ['b'], ['c']]);
  });
});
