import type { RunCoordinator } from 'node-cron';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DatabaseRunCoordinator, everyInterval, Scheduler } from '../../../src/jobs/scheduler.js';
import { captureLog } from '../../helpers/log.js';

/** Claims in memory, with what each instance won. */
function memoryClaims() {
  const claimed = new Map<string, string>();
  let pruned = 0;
  return {
    claimed,
    get pruned() {
      return pruned;
    },
    async claim(key: string, instance: string) {
      if (claimed.has(key)) return false;
      claimed.set(key, instance);
      return true;
    },
    async prune() {
      pruned++;
      return 0;
    },
  };
}

const everyone: RunCoordinator = { shouldRun: () => true };

describe('Scheduler', () => {
  let schedulers: Scheduler[] = [];
  const make = (options: Partial<ConstructorParameters<typeof Scheduler>[0]> = {}) => {
    const logs = captureLog();
    const s = new Scheduler({ log: logs.log, coordinator: everyone, instance: 'test', ...options });
    schedulers.push(s);
    return { s, logs };
  };
  afterEach(async () => {
    vi.useRealTimers();
    for (const s of schedulers) await s.stopAll();
    schedulers = [];
  });

  it('runs a job on its slots, one log line per run with its duration and result', async () => {
    vi.useFakeTimers({ now: new Date('2026-01-01T00:00:58.500Z') });
    const { s, logs } = make();
    const slots: string[] = [];
    s.schedule(
      'tick',
      '* * * * *',
      async ({ slot }) => {
        slots.push(slot.toISOString());
        return { n: slots.length };
      },
      { timeoutMs: 5_000, describe: (r) => ({ n: r.n }) },
    );
    s.start();
    await vi.advanceTimersByTimeAsync(2_000);
    expect(slots).toEqual(['2026-01-01T00:01:00.000Z']);
    await vi.advanceTimersByTimeAsync(120_000);
    expect(slots).toEqual([
      '2026-01-01T00:01:00.000Z',
      '2026-01-01T00:02:00.000Z',
      '2026-01-01T00:03:00.000Z',
    ]);
    const lines = logs.lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'job tick finished');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatchObject({ job: 'tick', result: 'ok', n: 1, slot: '2026-01-01T00:01:00.000Z' });
    expect(typeof lines[0].durationMs).toBe('number');
  });

  it('asks the coordinator with "<name>:<slot ISO>" and runs only the slots it wins', async () => {
    vi.useFakeTimers({ now: new Date('2026-01-01T00:00:59.500Z') });
    const claims = memoryClaims();
    claims.claimed.set('report:2026-01-01T00:02:00.000Z', 'other');
    const { s, logs } = make({
      coordinator: new DatabaseRunCoordinator({ claims, instance: 'me', log: captureLog().log }),
      instance: 'me',
    });
    const ran: string[] = [];
    s.schedule('report', '* * * * *', async ({ slot }) => void ran.push(slot.toISOString()), {
      timeoutMs: 1_000,
    });
    s.start();
    await vi.advanceTimersByTimeAsync(2 * 60_000 + 1_000);
    expect(ran).toEqual(['2026-01-01T00:01:00.000Z', '2026-01-01T00:03:00.000Z']);
    expect([...claims.claimed]).toEqual([
      ['report:2026-01-01T00:02:00.000Z', 'other'],
      ['report:2026-01-01T00:01:00.000Z', 'me'],
      ['report:2026-01-01T00:03:00.000Z', 'me'],
    ]);
    expect(logs.text()).toContain('job slot taken by another instance');
    // The first claim also deleted old claims (once an hour at most).
    expect(claims.pruned).toBe(1);
  });

  it('abandons a run past its time limit, aborts its signal, and logs it as timed out', async () => {
    vi.useFakeTimers({ now: new Date('2026-01-01T00:00:59.000Z') });
    const { s, logs } = make();
    let aborted = false;
    let finish: () => void = () => {};
    s.schedule(
      'slow',
      '* * * * *',
      ({ signal }) =>
        new Promise<void>((resolve) => {
          signal.addEventListener('abort', () => {
            aborted = true;
          });
          finish = resolve;
        }),
      { timeoutMs: 10_000 },
    );
    s.start();
    await vi.advanceTimersByTimeAsync(12_000);
    expect(aborted).toBe(true);
    const timedOut = logs.lines.map((l) => JSON.parse(l)).find((l) => l.result === 'timed_out');
    expect(timedOut).toMatchObject({ job: 'slow', level: 50 });
    finish();
    await vi.advanceTimersByTimeAsync(0);
    expect(logs.text()).toContain('abandoned run of job slow has ended');
  });

  it('skips a slot while the previous run (even an abandoned one) is still going', async () => {
    vi.useFakeTimers({ now: new Date('2026-01-01T00:00:59.000Z') });
    const { s, logs } = make();
    let runs = 0;
    let finish: () => void = () => {};
    s.schedule(
      'long',
      '*/10 * * * * *',
      () => {
        runs++;
        return new Promise<void>((resolve) => {
          finish = resolve;
        });
      },
      { timeoutMs: 5_000 },
    );
    s.start();
    // Slot 00:01:00 starts; it times out at :05 but keeps running; slot :10 is skipped.
    await vi.advanceTimersByTimeAsync(12_000);
    expect(runs).toBe(1);
    expect(logs.text()).toContain('job still running from an earlier slot; this slot is skipped');
    finish();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(runs).toBe(2);
    finish();
  });

  it('a run that never ends stops blocking the job one time limit after it was abandoned', async () => {
    vi.useFakeTimers({ now: new Date('2026-01-01T00:00:00.000Z') });
    const { s } = make();
    let calls = 0;
    const job = s.schedule(
      'stuck',
      '0 0 * * *',
      () => {
        calls++;
        return calls === 1 ? new Promise<void>(() => {}) : Promise.resolve();
      },
      { timeoutMs: 1_000 },
    );
    const first = job.runNow();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await first).toMatchObject({ status: 'timed_out' });
    const second = job.runNow();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await second).toMatchObject({ status: 'ok' });
    expect(calls).toBe(2);
  });

  it('runNow runs outside the schedule without coordination, after the run in progress', async () => {
    const refuse: RunCoordinator = { shouldRun: () => false };
    const { s } = make({ coordinator: refuse });
    let n = 0;
    const job = s.schedule('manual', '0 0 * * *', async () => ++n, { timeoutMs: 1_000 });
    s.start();
    expect(await job.runNow()).toMatchObject({ status: 'ok', value: 1 });
    const [a, b] = await Promise.all([job.runNow(), job.runNow()]);
    expect([a, b].map((o) => (o.status === 'ok' ? o.value : null)).sort()).toEqual([2, 3]);
  });

  it('a failing job is logged as failed and the schedule goes on', async () => {
    const { s, logs } = make();
    const job = s.schedule(
      'boom',
      '0 0 * * *',
      async () => {
        throw new Error('kaput');
      },
      { timeoutMs: 1_000 },
    );
    const outcome = await job.runNow();
    expect(outcome.status).toBe('failed');
    expect(logs.lines.map((l) => JSON.parse(l)).find((l) => l.result === 'failed')).toMatchObject({
      job: 'boom',
    });
  });

  it('stopAll waits for running jobs and no slot starts afterwards', async () => {
    vi.useFakeTimers({ now: new Date('2026-01-01T00:00:59.500Z') });
    const { s } = make();
    let running = 0;
    let finished = 0;
    let finish: () => void = () => {};
    s.schedule(
      'work',
      '* * * * * *',
      () => {
        running++;
        return new Promise<void>((resolve) => {
          finish = () => {
            finished++;
            resolve();
          };
        });
      },
      { timeoutMs: 60_000 },
    );
    s.start();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(running).toBe(1);
    let stopped = false;
    const stopping = s.stopAll().then(() => {
      stopped = true;
    });
    await vi.advanceTimersByTimeAsync(3_000);
    expect(stopped).toBe(false);
    finish();
    await stopping;
    expect(finished).toBe(1);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(running).toBe(1);
  });

  it('refuses an invalid cron expression and a name used twice', () => {
    const { s } = make();
    expect(() => s.schedule('x', 'not cron', async () => {}, { timeoutMs: 1 })).toThrow(/invalid cron/);
    s.schedule('x', '* * * * *', async () => {}, { timeoutMs: 1 });
    expect(() => s.schedule('x', '* * * * *', async () => {}, { timeoutMs: 1 })).toThrow(/already/);
  });
});

describe('everyInterval', () => {
  it('turns intervals that divide a minute or an hour into cron expressions', () => {
    expect(everyInterval(30_000)).toBe('*/30 * * * * *');
    expect(everyInterval(1_000)).toBe('* * * * * *');
    expect(everyInterval(60_000)).toBe('0 * * * * *');
    expect(everyInterval(300_000)).toBe('0 */5 * * * *');
    expect(everyInterval(3_600_000)).toBe('0 0 * * * *');
  });
  it('refuses intervals that would drift across minute boundaries', () => {
    expect(() => everyInterval(7_000)).toThrow(/divide/);
    expect(() => everyInterval(1_500)).toThrow(/whole number/);
    expect(() => everyInterval(0)).toThrow();
  });
});
