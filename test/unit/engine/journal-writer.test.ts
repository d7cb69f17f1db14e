import { describe, expect, it } from 'vitest';
import { JournalWriter } from '../../../src/engine/journal-writer.js';
import type { JournalStore, JournalUpdate } from '../../../src/engine/stores.js';

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
