/**
 * Named cron jobs over node-cron, with what every job here needs and node-cron leaves to the caller:
 * a time limit per run, one log line per run, no run overlapping the previous one (even one that was
 * abandoned at its time limit), and a shutdown that waits for running work.
 *
 * With several instances sharing one database, each slot of a job runs on exactly one of them:
 * node-cron's distributed coordination asks a {@link RunCoordinator} before every scheduled run, and
 * {@link DatabaseRunCoordinator} answers by claiming the slot's key in the database.
 */
import cron, {
  type Logger as CronLogger,
  type RunCoordinator,
  type ScheduledTask,
  type TaskContext,
} from 'node-cron';
import type { Clock } from '../domain/clock.js';
import { systemClock } from '../domain/clock.js';
import type { Logger } from '../log.js';

/** Slot claims in shared storage; `CronRunsRepository` satisfies it. */
export interface SlotClaims {
  /** Claim `key` for `instance`; true only for the first claimant of the key. */
  claim(key: string, instance: string): Promise<boolean>;
  /** Delete claims made before `before`; returns how many. */
  prune(before: Date): Promise<number>;
}

/** What a {@link DatabaseRunCoordinator} is built from. */
export interface DatabaseRunCoordinatorOptions {
  readonly claims: SlotClaims;
  /** This process, as recorded with its claims (host name and process id, say). */
  readonly instance: string;
  readonly log: Logger;
  readonly clock?: Clock;
  /** How long claims are kept, for looking back at who ran what. Default 24 h. */
  readonly retentionMs?: number;
  /** How often old claims are deleted. Default 1 h. */
  readonly pruneEveryMs?: number;
}

/**
 * node-cron's run coordinator backed by the database: node-cron calls `shouldRun("<job>:<slot ISO>")`
 * on every instance at the same slot, and the one whose INSERT … ON CONFLICT DO NOTHING inserts the
 * key runs it. The unique key settles concurrent claims in one statement on PostgreSQL and PGlite
 * alike, so no advisory lock is needed: a lock would only add exclusion for as long as a session
 * holds it, which a slot claim does not need, and PGlite has one session anyway.
 */
export class DatabaseRunCoordinator implements RunCoordinator {
  private readonly clock: Clock;
  private readonly retentionMs: number;
  private readonly pruneEveryMs: number;
  private lastPrune = 0;
  private pruning: Promise<void> | null = null;

  constructor(private readonly options: DatabaseRunCoordinatorOptions) {
    this.clock = options.clock ?? systemClock;
    this.retentionMs = options.retentionMs ?? 24 * 3_600_000;
    this.pruneEveryMs = options.pruneEveryMs ?? 3_600_000;
  }

  async shouldRun(key: string): Promise<boolean> {
    // A failed claim throws: node-cron then skips the run (fail-closed), which is what we want when
    // the database that decides who runs is unreachable.
    const won = await this.options.claims.claim(key, this.options.instance);
    this.maybePrune();
    return won;
  }

  /** Delete claims older than the retention now; resolves with how many. */
  async prune(): Promise<number> {
    const before = new Date(this.clock.now().getTime() - this.retentionMs);
    return this.options.claims.prune(before);
  }

  private maybePrune(): void {
    const now = this.clock.now().getTime();
    if (this.pruning || now - this.lastPrune < this.pruneEveryMs) return;
    this.lastPrune = now;
    this.pruning = this.prune()
      .then((n) => {
        if (n > 0) this.options.log.debug({ pruned: n }, 'old cron slot claims deleted');
      })
      .catch((error) => this.options.log.warn({ err: error }, 'could not delete old cron slot claims'))
      .finally(() => {
        this.pruning = null;
      });
  }
}

/** What a job body receives. */
export interface JobContext {
  /** The slot this run is for (the cron match), or the time of a manual run. */
  readonly slot: Date;
  /** Aborted when the run passes its time limit or the scheduler stops: stop starting new work. */
  readonly signal: AbortSignal;
  readonly reason: 'scheduled' | 'invoked';
}

/** A job body; its result goes on the run's log line (see {@link ScheduleOptions.describe}). */
export type JobFn<T> = (context: JobContext) => Promise<T>;

/** How one job runs. */
export interface ScheduleOptions<T> {
  /** Past this the run is abandoned: its signal is aborted and it is logged as timed out. */
  readonly timeoutMs: number;
  /** Run each slot on one instance only (default true). */
  readonly distributed?: boolean;
  /** Fields of the run's result worth putting on its log line. */
  readonly describe?: (result: T) => Record<string, unknown>;
}

/** How one run ended. */
export type RunOutcome<T> =
  | { readonly status: 'ok'; readonly value: T; readonly durationMs: number }
  | { readonly status: 'failed'; readonly error: unknown; readonly durationMs: number }
  | { readonly status: 'timed_out'; readonly durationMs: number }
  | { readonly status: 'skipped'; readonly reason: 'overlap' | 'stopped' };

/** A scheduled job as the caller sees it. */
export interface JobHandle<T> {
  readonly name: string;
  readonly expression: string;
  /** Run now, outside the schedule and without coordination; waits for a run in progress first. */
  runNow(): Promise<RunOutcome<T>>;
  /** The next scheduled slot, or null when the scheduler is not started. */
  nextRun(): Date | null;
}

/** What a {@link Scheduler} is built from. */
export interface SchedulerOptions {
  readonly log: Logger;
  /** Decides which instance runs a distributed slot; usually a {@link DatabaseRunCoordinator}. */
  readonly coordinator: RunCoordinator;
  /** This process's name on log lines. */
  readonly instance: string;
  readonly clock?: Clock;
  /** Time zone of the cron expressions. Default UTC, so every instance computes the same slots. */
  readonly timezone?: string;
  /** How long {@link Scheduler.stopAll} waits for running jobs before aborting them. Default 10 s. */
  readonly stopTimeoutMs?: number;
}

interface Job {
  readonly name: string;
  readonly expression: string;
  readonly fn: JobFn<unknown>;
  readonly options: ScheduleOptions<unknown>;
  task: ScheduledTask | null;
  /** The run in progress, including one abandoned at its time limit that has not settled yet. */
  current: Promise<unknown> | null;
  /** Resolves when the job no longer blocks the next run (its run settled, or hung too long). */
  released: Promise<void>;
  controller: AbortController | null;
}

/** node-cron with names, time limits, overlap protection, coordination and a clean shutdown. */
export class Scheduler {
  private readonly jobs = new Map<string, Job>();
  private readonly log: Logger;
  private readonly timezone: string;
  private readonly stopTimeoutMs: number;
  private readonly clock: Clock;
  private started = false;
  private stopping = false;

  constructor(private readonly options: SchedulerOptions) {
    this.log = options.log;
    this.timezone = options.timezone ?? 'UTC';
    this.stopTimeoutMs = options.stopTimeoutMs ?? 10_000;
    this.clock = options.clock ?? systemClock;
  }

  /**
   * Register a job. It starts with {@link start}, or at once when the scheduler already runs.
   *
   * @throws on an invalid cron expression or a name used twice (both are programming errors).
   */
  schedule<T>(name: string, expression: string, fn: JobFn<T>, options: ScheduleOptions<T>): JobHandle<T> {
    if (this.jobs.has(name)) throw new Error(`a job named ${name} is already scheduled`);
    if (!cron.validate(expression)) throw new Error(`invalid cron expression for ${name}: ${expression}`);
    const job: Job = {
      name,
      expression,
      fn: fn as JobFn<unknown>,
      options: options as ScheduleOptions<unknown>,
      task: null,
      current: null,
      released: Promise.resolve(),
      controller: null,
    };
    this.jobs.set(name, job);
    if (this.started) this.arm(job);
    return {
      name,
      expression,
      runNow: () => this.runNow(name) as Promise<RunOutcome<T>>,
      nextRun: () => job.task?.getNextRun() ?? null,
    };
  }

  /** Start every registered job's timer. */
  start(): void {
    if (this.started || this.stopping) return;
    this.started = true;
    for (const job of this.jobs.values()) this.arm(job);
  }

  /** Run a job now (outside its schedule, without coordination) once any run in progress has ended. */
  async runNow(name: string): Promise<RunOutcome<unknown>> {
    const job = this.jobs.get(name);
    if (!job) throw new Error(`no job named ${name}`);
    while (job.current) await job.released;
    return this.run(job, this.clock.now(), 'invoked');
  }

  /**
   * Stop every timer, wait for running jobs (up to the stop timeout, then abort them), and release
   * node-cron's tasks. No job starts after this.
   */
  async stopAll(): Promise<void> {
    this.stopping = true;
    for (const job of this.jobs.values()) await job.task?.stop();
    const running = [...this.jobs.values()].filter((j) => j.current);
    if (running.length > 0) {
      let timer: NodeJS.Timeout | undefined;
      const waited = await Promise.race([
        Promise.all(running.map((j) => j.released)).then(() => true),
        new Promise<false>((resolve) => {
          timer = setTimeout(() => resolve(false), this.stopTimeoutMs);
        }),
      ]);
      clearTimeout(timer);
      if (!waited) {
        for (const j of running) j.controller?.abort(new Error('scheduler stopping'));
        this.log.warn(
          { jobs: running.filter((j) => j.current).map((j) => j.name) },
          'jobs still running at shutdown were told to stop',
        );
      }
    }
    for (const job of this.jobs.values()) {
      await job.task?.destroy();
      job.task = null;
    }
  }

  private arm(job: Job): void {
    const task = cron.createTask(
      job.expression,
      async (context: TaskContext) => {
        await this.run(job, context.date, 'scheduled');
      },
      {
        name: job.name,
        timezone: this.timezone,
        noOverlap: true,
        distributed: job.options.distributed ?? true,
        runCoordinator: this.options.coordinator,
        logger: cronLogger(this.log),
        suppressMissedWarning: true,
      },
    );
    task.on('execution:skipped', (context) => {
      const fields = { job: job.name, slot: context.date.toISOString(), instance: this.options.instance };
      if (context.reason === 'coordinator-error') {
        this.log.warn(fields, 'job slot skipped: could not claim it in the database');
      } else {
        this.log.debug(fields, 'job slot taken by another instance');
      }
    });
    task.on('execution:missed', (context) =>
      this.log.warn({ job: job.name, slot: context.date.toISOString() }, 'job slot missed (event loop busy)'),
    );
    job.task = task;
    void task.start();
  }

  private async run(job: Job, slot: Date, reason: 'scheduled' | 'invoked'): Promise<RunOutcome<unknown>> {
    const fields = { job: job.name, slot: slot.toISOString(), instance: this.options.instance, reason };
    if (this.stopping) return { status: 'skipped', reason: 'stopped' };
    if (job.current) {
      this.log.warn(fields, 'job still running from an earlier slot; this slot is skipped');
      return { status: 'skipped', reason: 'overlap' };
    }
    const controller = new AbortController();
    const started = performance.now();
    const work = Promise.resolve().then(() => job.fn({ slot, signal: controller.signal, reason }));
    let unblock: () => void = () => {};
    job.released = new Promise<void>((resolve) => {
      unblock = resolve;
    });
    job.controller = controller;
    job.current = work;
    let settled = false;
    const release = () => {
      if (job.current === work) {
        job.current = null;
        job.controller = null;
        unblock();
      }
    };
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<{ timedOut: true }>((resolve) => {
      timer = setTimeout(() => resolve({ timedOut: true }), job.options.timeoutMs);
    });
    try {
      const first = await Promise.race([
        work.then(
          (value) => ({ value }),
          (error: unknown) => ({ error }),
        ),
        timeout,
      ]);
      const durationMs = Math.round(performance.now() - started);
      if ('timedOut' in first) {
        controller.abort(new Error(`timed out after ${job.options.timeoutMs} ms`));
        this.log.error(
          { ...fields, durationMs, result: 'timed_out' },
          `job ${job.name} timed out; run abandoned`,
        );
        // The abandoned run still blocks the next slot until it settles, so two runs never touch the
        // same accounts at once; one that hangs for another full time limit stops blocking.
        const hang = setTimeout(release, job.options.timeoutMs);
        hang.unref();
        void work
          .catch(() => undefined)
          .finally(() => {
            clearTimeout(hang);
            release();
            this.log.info({ ...fields }, `abandoned run of job ${job.name} has ended`);
          });
        return { status: 'timed_out', durationMs };
      }
      settled = true;
      if ('error' in first) {
        this.log.error(
          { ...fields, durationMs, result: 'failed', err: first.error },
          `job ${job.name} failed`,
        );
        return { status: 'failed', error: first.error, durationMs };
      }
      let described: Record<string, unknown> = {};
      try {
        described = job.options.describe?.(first.value) ?? {};
      } catch (error) {
        this.log.warn({ ...fields, err: error }, 'could not describe a job result');
      }
      this.log.info({ ...fields, durationMs, result: 'ok', ...described }, `job ${job.name} finished`);
      return { status: 'ok', value: first.value, durationMs };
    } finally {
      clearTimeout(timer);
      if (settled) release();
    }
  }
}

/** A cron expression for "every `intervalMs`", which must divide a minute or an hour evenly. */
export function everyInterval(intervalMs: number): string {
  if (!Number.isInteger(intervalMs) || intervalMs <= 0 || intervalMs % 1000 !== 0) {
    throw new Error(`interval must be a positive whole number of seconds, got ${intervalMs} ms`);
  }
  const seconds = intervalMs / 1000;
  if (seconds < 60 && 60 % seconds === 0) return seconds === 1 ? '* * * * * *' : `*/${seconds} * * * * *`;
  if (seconds % 60 === 0) {
    const minutes = seconds / 60;
    if (minutes < 60 && 60 % minutes === 0) return minutes === 1 ? '0 * * * * *' : `0 */${minutes} * * * *`;
    if (minutes === 60) return '0 0 * * * *';
  }
  throw new Error(`interval ${intervalMs} ms does not divide a minute or an hour evenly`);
}

/** node-cron's logger interface over pino, so its own messages carry our fields and levels. */
function cronLogger(log: Logger): CronLogger {
  const fields = { component: 'node-cron' };
  return {
    info: (message) => log.info(fields, message),
    warn: (message) => log.warn(fields, message),
    error: (message, error) =>
      log.error(
        { ...fields, err: error ?? (message instanceof Error ? message : undefined) },
        String(message instanceof Error ? message.message : message),
      ),
    debug: (message) => log.debug(fields, String(message instanceof Error ? message.message : message)),
  };
}
