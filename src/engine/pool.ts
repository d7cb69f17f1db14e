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
