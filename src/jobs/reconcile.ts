/**
 * The reconciliation job: run a cycle, tell people what drifted (one message per owner per cycle,
 * or one to a report channel), and keep the cycle's report for the dashboard.
 */
import type { AccountReconciliation, Finding, ReconcileReport, Reconciler } from '../engine/reconciler.js';
import type { SettingsStore } from '../engine/stores.js';
import type { Logger } from '../log.js';
import type { Destination, Notifier } from '../ports/notifier.js';
import { type IdentityDirectory, notifyUser } from '../ports/notifier.js';

/** Settings key of the last cycle's report, so any instance's dashboard can show it. */
export const LAST_RECONCILIATION_KEY = 'reconcile.last';

/** Accounts listed in one message before the rest are counted. */
const MAX_ACCOUNTS_PER_MESSAGE = 25;

export interface ReconcileJobOptions {
  readonly reconciler: Reconciler;
  readonly notifier: Notifier;
  readonly users: IdentityDirectory;
  readonly log: Logger;
  /** Where the last report is kept; not kept without it. */
  readonly settings?: SettingsStore;
  /** `owners` (default): each owner privately; a destination: one message there for everyone. */
  readonly reportTo?: Destination | 'owners';
}

/** One reconciliation run as a job body. */
export class ReconcileJob {
  constructor(private readonly options: ReconcileJobOptions) {}

  async run(signal?: AbortSignal): Promise<ReconcileReport> {
    const { reconciler, log, settings } = this.options;
    const report = await reconciler.reconcile(signal);
    try {
      await this.tell(report);
    } catch (error) {
      log.warn({ err: error, cycle: report.cycle }, 'could not send the drift summary');
    }
    try {
      // Accounts with nothing found are counted, not listed: the stored report stays small at 10,000 accounts.
      await settings?.set(LAST_RECONCILIATION_KEY, {
        ...report,
        results: report.results.filter((r) => r.findings.length > 0),
      });
    } catch (error) {
      log.warn({ err: error, cycle: report.cycle }, 'could not store the reconciliation report');
    }
    return report;
  }

  private async tell(report: ReconcileReport): Promise<void> {
    const { notifier, users, reportTo = 'owners' } = this.options;
    const noteworthy = report.results.filter((r) => r.findings.some((f) => f.new));
    if (noteworthy.length === 0) return;
    if (reportTo !== 'owners') {
      await notifier.notify({ type: 'text', to: reportTo, text: driftText(report, noteworthy) });
      return;
    }
    const byOwner = new Map<string, AccountReconciliation[]>();
    for (const r of noteworthy) {
      const list = byOwner.get(r.ownerUserId);
      if (list) list.push(r);
      else byOwner.set(r.ownerUserId, [r]);
    }
    for (const [owner, results] of byOwner) {
      const text = driftText(report, results);
      await notifyUser(users, notifier, owner, (to) => ({ type: 'text', to, text }));
    }
  }
}

/** The plain-text drift summary of some accounts of a cycle: only what is new is listed. */
export function driftText(report: ReconcileReport, results: readonly AccountReconciliation[]): string {
  const lines = [
    `Reconciliation found drift on ${results.length} account${results.length === 1 ? '' : 's'}:`,
  ];
  for (const r of results.slice(0, MAX_ACCOUNTS_PER_MESSAGE)) {
    lines.push(`${r.accountName}:`);
    for (const f of r.findings.filter((x) => x.new)) lines.push(`  • ${findingText(f)}`);
  }
  if (results.length > MAX_ACCOUNTS_PER_MESSAGE) {
    lines.push(`…and ${results.length - MAX_ACCOUNTS_PER_MESSAGE} more accounts.`);
  }
  if (report.deferred > 0) {
    lines.push(`${report.deferred} account(s) wait for the next cycle (request budget).`);
  }
  return lines.join('\n');
}

const ACTION_WORDS: Record<Finding['action'], string> = {
  settled: 'settled',
  cancelled: 'cancelled',
  placed: 'placed',
  modified: 'resized',
  liquidated: 'flattened',
  reported: 'not ours',
  failed: 'failed',
};

function findingText(f: Finding): string {
  return `${ACTION_WORDS[f.action]}: ${f.detail}`;
}
