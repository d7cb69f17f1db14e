import { describe, expect, it } from 'vitest';
import { EntityStore, IdTable } from '../../fakes/tradovate/entities.js';

describe('simulator IdTable', () => {
  it('keeps sequential ids dense and any other id aside, answering both the same way', () => {
    const t = new IdTable<string>();
    expect(t.set(1000, 'a')).toBe(true);
    expect(t.set(1001, 'b')).toBe(true);
    expect(t.set(1003, 'd')).toBe(true); // a hole at 1002
    expect(t.set(7, 'low')).toBe(true); // below the first id
    expect(t.set(10_000_000, 'far')).toBe(true); // far past the highest
    expect(t.set(1001, 'b2')).toBe(false); // replaced, not new
    expect(t.set(7, 'low2')).toBe(false);
    expect(t.size).toBe(5);
    expect([t.get(1000), t.get(1001), t.get(1002), t.get(1003), t.get(7), t.get(10_000_000)]).toEqual([
      'a',
      'b2',
      undefined,
      'd',
      'low2',
      'far',
    ]);
    expect(t.get(999)).toBeUndefined();
    expect(t.get(1004)).toBeUndefined();
    expect(t.values()).toEqual(['a', 'b2', 'd', 'low2', 'far']);
  });
});

describe('simulator EntityStore indexes', () => {
  const viewer = { userId: 1, accountIds: new Set([11, 12]) };

  it('answers deps and list from the master and account indexes, in id order, visible rows only', () => {
    const store = new EntityStore();
    const order = (id: number, accountId: number) =>
      store.put('order', {
        id,
        accountId,
        contractId: 5,
        timestamp: 't',
        action: 'Buy',
        ordStatus: 'Working',
        admin: false,
      });
    order(300, 11);
    order(301, 12);
    order(302, 11);
    order(303, 99); // another user's account
    order(5, 11); // an id below the first one
    expect(store.deps('order', [11], viewer)!.map((o) => o.id)).toEqual([5, 300, 302]);
    expect(store.deps('order', [12, 11, 12], viewer)!.map((o) => o.id)).toEqual([5, 300, 301, 302]);
    expect(store.deps('order', [99], viewer)).toEqual([]);
    expect(store.list('order', viewer).map((o) => o.id)).toEqual([5, 300, 301, 302]);
    // An update replaces the entity without indexing it twice.
    store.update('order', 300, { ordStatus: 'Filled' });
    expect(store.deps('order', [11], viewer)!.map((o) => [o.id, o.ordStatus])).toEqual([
      [5, 'Working'],
      [300, 'Filled'],
      [302, 'Working'],
    ]);
  });
});
