import { describe, expect, it } from 'vitest';
import type { WindowLimiter, WindowLimiterFactory } from '../../../src/brokers/tradovate/index.js';
import { Budgets, DEFAULT_LIMITS } from '../../../src/brokers/tradovate/limits.js';
import type { Priority } from '../../../src/brokers/tradovate/types.js';

/** Windows whose points the test hands out one by one. */
function manualWindows() {
  let available = 0;
  const used = new Map<string, number>();
  const factory: WindowLimiterFactory = ({ points, durationSec }) => {
    const w: WindowLimiter = {
      points,
      durationSec,
      async consume(key, n) {
        // Only the second window gates; the others always fit.
        if (durationSec === 1) {
          if (available < n) return { ok: false, msBeforeNext: 5 };
          available -= n;
        }
        used.set(`${durationSec}:${key}`, (used.get(`${durationSec}:${key}`) ?? 0) + n);
        return { ok: true };
      },
      async refund(key, n) {
        used.set(`${durationSec}:${key}`, (used.get(`${durationSec}:${key}`) ?? 0) - n);
      },
      async used(key) {
        return used.get(`${durationSec}:${key}`) ?? 0;
      },
    };
    return w;
  };
  return { factory, release: (n = 1) => (available += n) };
}

async function until(check: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

describe('Tradovate request budgets', () => {
  it('admits order placement ahead of queries and queries ahead of background work when the budget is tight', async () => {
    const windows = manualWindows();
    const budgets = new Budgets({ limits: DEFAULT_LIMITS, limiterFactory: windows.factory });
    const admitted: string[] = [];
    const enter = (label: string, priority: Priority) =>
      budgets.acquire('c1', priority).then((r) => {
        if (r.ok) admitted.push(label);
      });
    const waiting = [
      enter('background-1', 'background'),
      enter('query-1', 'query'),
      enter('query-2', 'query'),
      enter('order-1', 'order'),
      enter('order-2', 'order'),
    ];
    for (let n = 1; n <= 5; n++) {
      windows.release();
      await until(() => admitted.length === n);
    }
    await Promise.all(waiting);
    expect(admitted).toEqual(['order-1', 'order-2', 'query-1', 'query-2', 'background-1']);
    budgets.close();
  });

  it('admits a burst that fits with one take per window, and one by one once a window refuses', async () => {
    const takes: string[] = [];
    let secondLeft = 6;
    const factory: WindowLimiterFactory = ({ points, durationSec }) => ({
      points,
      durationSec,
      async consume(_key, n) {
        takes.push(`${durationSec}s:${n}`);
        if (durationSec === 1) {
          if (secondLeft < n) return { ok: false, msBeforeNext: 5 };
          secondLeft -= n;
        }
        return { ok: true };
      },
      async refund(_key, n) {
        if (durationSec === 1) secondLeft += n;
      },
      async used() {
        return 0;
      },
    });
    const budgets = new Budgets({ limits: DEFAULT_LIMITS, limiterFactory: factory });
    // The first waiter starts the pump alone; the next four queue behind it and go out together.
    const first = await Promise.all(Array.from({ length: 5 }, () => budgets.acquire('c1', 'order')));
    expect(first.every((r) => r.ok)).toBe(true);
    expect(takes).toEqual(['1s:1', '60s:1', '3600s:1', '1s:4', '60s:4', '3600s:4']);
    takes.length = 0;
    // Room for one more this second: the first goes alone, the two behind it are refused together,
    // then tried one by one (refused: they wait) until the window has room again.
    const second = Promise.all(Array.from({ length: 3 }, () => budgets.acquire('c1', 'order')));
    await until(() => takes.length >= 5);
    expect(takes.slice(0, 5)).toEqual(['1s:1', '60s:1', '3600s:1', '1s:2', '1s:1']);
    secondLeft += 2;
    expect((await second).every((r) => r.ok)).toBe(true);
    expect(takes.slice(5).filter((t) => t.startsWith('1s:') && t !== '1s:1')).toEqual([]);
    expect(takes.filter((t) => t === '60s:1')).toHaveLength(3);
    budgets.close();
  });

  it('keeps each credential on its own budget', async () => {
    const budgets = new Budgets({ limits: { ...DEFAULT_LIMITS, perSecond: 2, maxWaitMs: 0 } });
    expect((await budgets.acquire('a', 'query')).ok).toBe(true);
    expect((await budgets.acquire('a', 'query')).ok).toBe(true);
    const third = await budgets.acquire('a', 'query');
    expect(third).toMatchObject({ ok: false, error: { kind: 'rate_limited' } });
    if (!third.ok) expect(third.error.retryAfterMs).toBeGreaterThan(0);
    expect((await budgets.acquire('b', 'query')).ok).toBe(true);
    expect(await budgets.usage('a')).toEqual({
      second: 2,
      minute: 2,
      hour: 2,
      limits: { second: 2, minute: DEFAULT_LIMITS.perMinute, hour: DEFAULT_LIMITS.perHour },
    });
    budgets.close();
  });

  it('does not charge the second window when the hour window refuses', async () => {
    const budgets = new Budgets({ limits: { ...DEFAULT_LIMITS, perHour: 1, maxWaitMs: 0 } });
    expect((await budgets.acquire('a', 'order')).ok).toBe(true);
    expect((await budgets.acquire('a', 'order')).ok).toBe(false);
    expect(await budgets.usage('a')).toMatchObject({ second: 1, minute: 1, hour: 1 });
    budgets.close();
  });

  it('paces a burst by waiting for the window instead of refusing it', async () => {
    const budgets = new Budgets({ limits: { ...DEFAULT_LIMITS, perSecond: 3 } });
    const started = Date.now();
    const results = await Promise.all(Array.from({ length: 4 }, () => budgets.acquire('a', 'order')));
    expect(results.every((r) => r.ok)).toBe(true);
    // The fourth waited for the next one-second window.
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    budgets.close();
  });

  it('keeps the login and renewal budgets per process, apart from the credentials', async () => {
    const budgets = new Budgets({ limits: { ...DEFAULT_LIMITS, renewalsPerHour: 2 } });
    expect((await budgets.acquireAuth('renewaccesstoken', 0)).ok).toBe(true);
    expect((await budgets.acquireAuth('renewaccesstoken', 0)).ok).toBe(true);
    expect(await budgets.acquireAuth('renewaccesstoken', 0)).toMatchObject({
      ok: false,
      error: { kind: 'rate_limited' },
    });
    expect((await budgets.acquireAuth('accesstokenrequest', 0)).ok).toBe(true);
    expect((await budgets.acquire('a', 'query')).ok).toBe(true);
    budgets.close();
  });
});
