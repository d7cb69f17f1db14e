/**
 * The scheduled jobs: token refresh every minute (when Tradovate is configured) and reconciliation
 * every interval (30 s by default), each slot run by one instance of however many share the
 * database. `app.ts` builds the parts; this wires them.
 */
import type { RunCoordinator } from 'node-cron';
import type { Broker } from '../brokers/broker.js';
import type { BrokerError } from '../brokers/errors.js';
import type { Clock } from '../domain/clock.js';
import { systemClock } from '../domain/clock.js';
import type { Result } from '../domain/result.js';
import type { BrokerName } from '../domain/types.js';
import {
  type BudgetUse,
  type ReconcileReport,
  Reconciler,
  type ReconcilerOptions,
  type ReconcileStores,
} from '../engine/reconciler.js';
import type { SettingsStore } from '../engine/stores.js';
import type { Logger } from '../log.js';
import type { Destination, IdentityDirectory, Notifier } from '../ports/notifier.js';
import { ReconcileJob } from './reconcile.js';
import {
  DatabaseRunCoordinator,
  everyInterval,
  type JobHandle,
  type RunOutcome,
  Scheduler,
  type SlotClaims,
} from './scheduler.js';
import {
  type AuditSink,
  type RefreshCredentialStore,
  type RefreshReport,
  TokenRefresher,
  type TokenRefreshOptions,
} from './token-refresh.js';

export type { ReconcileReport } from '../engine/reconciler.js';
export { LAST_RECONCILIATION_KEY } from './reconcile.js';
export type { JobContext, JobHandle, RunOutcome, SlotClaims } from './scheduler.js';
export { DatabaseRunCoordinator, everyInterval, Scheduler } from './scheduler.js';
export type { RefreshReport } from './token-refresh.js';
export { TokenRefresher } from './token-refresh.js';

/** What the jobs need of the Tradovate adapter, beyond the broker port. */
export interface TradovateJobsPort {
  renewToken(credentialId: string): Promise<Result<{ readonly expiresAt: Date }, BrokerError>>;
  budgetUsage(credentialId: string): Promise<BudgetUse>;
}

/** The repositories the jobs use; `App['stores']` plus the cron claims satisfy it. */
export interface JobStores extends ReconcileStores {
  readonly credentials: RefreshCredentialStore;
  readonly users: IdentityDirectory;
  readonly audit: AuditSink;
  readonly settings: SettingsStore;
  readonly cronRuns: SlotClaims;
}

/** What {@link createJobs} wires; the composition root passes the concrete parts. */
export interface JobsOptions {
  readonly log: Logger;
  readonly clock?: Clock;
  /** This process in slot claims and log lines, e.g. `${hostname()}:${process.pid}`. */
  readonly instance: string;
  readonly stores: JobStores;
  readonly brokers: ReadonlyMap<BrokerName, Broker>;
  /** The Tradovate adapter; without it there is no token refresh job. */
  readonly tradovate?: TradovateJobsPort | null;
  /** The adapter's `renewalsPerHour` (its `DEFAULT_LIMITS` or configured value); required with `tradovate`. */
  readonly renewalsPerHour?: number;
  readonly notifier: Notifier;
  /** Reconciliation interval; must divide a minute or an hour. Default 30 s. */
  readonly reconcileIntervalMs?: number;
  /** A cycle past this is abandoned. Default 4 intervals. */
  readonly reconcileTimeoutMs?: number;
  /** Drift summaries to each owner (default) or to one chat. */
  readonly reconcileReportTo?: Destination | 'owners';
  /** Tuning of reconciliation. */
  readonly reconcile?: Omit<ReconcilerOptions, 'brokers' | 'stores' | 'clock' | 'log' | 'budgetUsage'>;
  /** Tuning of token refresh. */
  readonly tokenRefresh?: Omit<
    TokenRefreshOptions,
    'credentials' | 'users' | 'notifier' | 'audit' | 'renew' | 'renewalsPerHour' | 'clock' | 'log'
  >;
  /** Replaces the database coordinator (tests, or a deployment with a coordinator of its own). */
  readonly coordinator?: RunCoordinator;
  /** How long `stopAll` waits for running jobs. Default 10 s. */
  readonly stopTimeoutMs?: number;
}

/** The running jobs, for `main.ts` (start, stop) and the dashboard and tests (run now, last report). */
export interface Jobs {
  /** Start the schedules. */
  start(): void;
  /** Stop the schedules and wait for running jobs (graceful shutdown). */
  stopAll(): Promise<void>;
  /** Run a reconciliation cycle now (after one in progress) and return its report. */
  reconcileNow(): Promise<ReconcileReport>;
  /** Run a token refresh pass now; null when Tradovate is not configured. */
  refreshNow(): Promise<RefreshReport | null>;
  /** This process's last reconciliation report (the stored one of any instance is under `reconcile.last`). */
  lastReconciliation(): ReconcileReport | null;
  readonly scheduler: Scheduler;
  readonly reconciler: Reconciler;
  /** Null without Tradovate. */
  readonly refresher: TokenRefresher | null;
}

/** Job names, which are also the prefixes of their slot claims. */
export const RECONCILE_JOB = 'reconcile';
export const TOKEN_REFRESH_JOB = 'token-refresh';

/** Build the jobs; nothing runs until {@link Jobs.start}. */
export function createJobs(options: JobsOptions): Jobs {
  const { stores, log, notifier, tradovate } = options;
  const clock = options.clock ?? systemClock;
  const jobsLog = log.child({ component: 'jobs' });
  const coordinator =
    options.coordinator ??
    new DatabaseRunCoordinator({ claims: stores.cronRuns, instance: options.instance, log: jobsLog, clock });
  const scheduler = new Scheduler({
    log: jobsLog,
    coordinator,
    instance: options.instance,
    clock,
    ...(options.stopTimeoutMs !== undefined ? { stopTimeoutMs: options.stopTimeoutMs } : {}),
  });

  const reconciler = new Reconciler({
    ...options.reconcile,
    brokers: options.brokers,
    stores,
    clock,
    log: log.child({ component: 'reconciler' }),
    budgetUsage: async (broker, credentialId) =>
      broker === 'tradovate' && tradovate ? tradovate.budgetUsage(credentialId) : null,
  });
  const reconcileJob = new ReconcileJob({
    reconciler,
    notifier,
    users: stores.users,
    settings: stores.settings,
    log: jobsLog,
    ...(options.reconcileReportTo ? { reportTo: options.reconcileReportTo } : {}),
  });
  const intervalMs = options.reconcileIntervalMs ?? 30_000;
  const reconcile = scheduler.schedule(
    RECONCILE_JOB,
    everyInterval(intervalMs),
    (ctx) => reconcileJob.run(ctx.signal),
    {
      timeoutMs: options.reconcileTimeoutMs ?? intervalMs * 4,
      describe: (r) => ({
        cycle: r.cycle,
        accounts: r.accounts,
        checked: r.checked,
        deferred: r.deferred,
        busy: r.busy,
        failed: r.failed,
        settled: r.settled,
        repaired: r.repaired,
        newFindings: r.newFindings,
      }),
    },
  );

  let refresher: TokenRefresher | null = null;
  let refresh: JobHandle<RefreshReport> | null = null;
  if (tradovate) {
    if (options.renewalsPerHour === undefined)
      throw new Error('createJobs: renewalsPerHour is required with tradovate');
    refresher = new TokenRefresher({
      ...options.tokenRefresh,
      credentials: stores.credentials,
      users: stores.users,
      notifier,
      audit: stores.audit,
      renew: (id) => tradovate.renewToken(id),
      renewalsPerHour: options.renewalsPerHour,
      clock,
      log: log.child({ component: 'token-refresh' }),
    });
    const body = refresher;
    refresh = scheduler.schedule(TOKEN_REFRESH_JOB, '0 * * * * *', (ctx) => body.run(ctx.signal), {
      // A pass must end before the next minute's begins.
      timeoutMs: 50_000,
      describe: (r) => ({
        budget: r.budget,
        due: r.due,
        renewed: r.renewed,
        early: r.early,
        failed: r.failed,
        deferred: r.deferred,
        scheduled: r.scheduled,
        needsReauth: r.needsReauth,
      }),
    });
  }

  return {
    start: () => scheduler.start(),
    stopAll: () => scheduler.stopAll(),
    reconcileNow: async () => resultOf(await reconcile.runNow(), RECONCILE_JOB),
    refreshNow: async () => (refresh ? resultOf(await refresh.runNow(), TOKEN_REFRESH_JOB) : null),
    lastReconciliation: () => reconciler.lastReport(),
    scheduler,
    reconciler,
    refresher,
  };
}

function resultOf<T>(outcome: RunOutcome<T>, job: string): T {
  switch (outcome.status) {
    case 'ok':
      return outcome.value;
    case 'failed':
      throw outcome.error instanceof Error
        ? outcome.error
        : new Error(`${job} failed: ${String(outcome.error)}`);
    case 'timed_out':
      throw new Error(`${job} timed out after ${outcome.durationMs} ms`);
    case 'skipped':
      throw new Error(`${job} did not run: ${outcome.reason}`);
  }
}
