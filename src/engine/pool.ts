/**
 * Helpers for working over many accounts: `groupBy` sorts them into lanes, `runPool` works through
 * them with bounded concurrency.
 */

/** Items by key, each list in input order. */
export function groupBy<T>(items: Iterable<T>, key: (item: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = out.get(k);
    if (list) list.push(item);
    else out.set(k, [item]);
  }
  return out;
}

/**
 * Run `work` over items with at most `width` in flight, without creating a promise per item up
 * front: a fixed set of workers pulls from one iterator. Memory stays flat for 10,000 items.
 */
export async function runPool<T>(
  items: Iterable<T>,
  width: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  const iterator = items[Symbol.iterator]();
  let failed: unknown = null;
  const worker = async () => {
    for (;;) {
      if (failed) return;
      const next = iterator.next();
      if (next.done) return;
      try {
        await work(next.value);
      } catch (error) {
        failed = error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, width) }, worker));
  if (failed) throw failed;
}
