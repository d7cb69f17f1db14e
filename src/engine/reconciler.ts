/**
 * Reconciliation: compare every enabled account at the broker with what the journal says we did,
 * and put right what drifted.
 *
 * One cycle walks the accounts lane by lane (a lane is one credential), reading at `background`
 * priority so that order placement always goes first, and only while the credential's request
 * budget has room. Per account it:
 * - settles journal rows whose outcome is unknown (and rows left `sending`) by their client order id;
 * - cancels our take-profits and stops that are still working with no position left (orphans);
 * - places a missing take-profit or stop on accounts whose bracket policy is `require`;
 * - resizes a take-profit or stop that no longer matches the position, and cancels duplicates;
 * - reports positions and orders no signal of ours made (placed by hand or by another copier), and
 *   touches them only when the account's unmanaged policy is `flatten`.
 *
 * Every repair is journaled (under a signal record made for the cycle, with client order ids
 * `tc.r<signal>.<account>.<leg><n>`) before it is sent, exactly like an order of a signal. An account
 * with a fan-out in flight is only read and settled, never repaired, so reconciliation cannot race
 * the engine into duplicate protective orders.
 */
import type {
  AccountRef,
  BracketLevel,
  Broker,
  BrokerOrder,
  BrokerPosition,
  BrokerResult,
  CallOptions,
} from '../brokers/broker.js';
import type { BrokerError } from '../brokers/errors.js';
import type { Clock } from '../domain/clock.js';
import type { JournalEntry, OrderLeg, OrderPlan } from '../domain/orders.js';
import { TERMINAL_STATES } from '../domain/orders.js';
import { bracketLevel } from '../domain/sizing.js';
import { roundToTick } from '../domain/symbols.js';
import type { Account, BrokerName, Principal, Side, Signal } from '../domain/types.js';
import type { Logger } from '../log.js';
import { runPool } from './pool.js';
import type { JournalStore, NewJournalEntry, SettingsStore, SignalStatus, SignalStore } from './stores.js';

const BACKGROUND: CallOptions = { priority: 'background' };

/** An account as reconciliation sees it: the engine's account and its two policies. */
export interface ReconcileAccount extends Account {
  /** `require`: a position of ours must have a take-profit and a stop; `keep`: leave it as it is. */
  readonly bracketPolicy: 'keep' | 'require';
  /** What to do with positions and orders we did not make: report them, or flatten them. */
  readonly unmanagedPolicy: 'report' | 'flatten';
}

/** A signal as listed newest first; `SignalsRepository.recent` satisfies it. */
export interface RecentSignal {
  readonly id: string;
  readonly dedupKey: string;
  readonly status: SignalStatus;
  readonly body: Signal;
  readonly createdAt: Date;
}

/** What reconciliation reads and writes; the repositories satisfy it. */
export interface ReconcileStores {
  readonly accounts: {
    listAll(options?: { enabledOnly?: boolean }): Promise<readonly ReconcileAccount[]>;
  };
  readonly signals: SignalStore & { recent(limit: number): Promise<readonly RecentSignal[]> };
  readonly journal: JournalStore;
  readonly audit: {
    record(event: {
      actor: string;
      action: string;
      subject: string;
      details?: Readonly<Record<string, unknown>>;
    }): Promise<unknown>;
  };
  /** Where reported unmanaged items are remembered across cycles and instances; in memory without it. */
  readonly settings?: SettingsStore;
}

/** A credential's request budget use, as the Tradovate adapter's `budgetUsage` reports it. */
export interface BudgetUse {
  readonly minute: number;
  readonly hour: number;
  readonly limits: { readonly minute: number; readonly hour: number };
}

export interface ReconcilerOptions {
  readonly brokers: ReadonlyMap<BrokerName, Broker>;
  readonly stores: ReconcileStores;
  readonly clock: Clock;
  readonly log: Logger;
  /** The credential's budget use, for brokers that count one; null or absent means no limit. */
  readonly budgetUsage?: (broker: BrokerName, credentialId: string) => Promise<BudgetUse | null>;
  /** Reconciliation reads only while the credential has used less than this share of its minute and hour. Default 0.5. */
  readonly budgetShare?: number;
  /** A row left `sending`, or not found at the broker, is settled only after this. Default 2 min. */
  readonly graceMs?: number;
  /** An account with a journal row this young is not repaired (a fan-out is at work). Default 60 s. */
  readonly quietMs?: number;
  /** Distance of a placed take-profit when no signal of ours gave one, in ticks. Default 40. */
  readonly defaultTakeProfitTicks?: number;
  /** Distance of a placed stop when no signal of ours gave one, in ticks. Default 40. */
  readonly defaultStopLossTicks?: number;
  /** Lanes (credentials) worked on at once. Default 32. */
  readonly concurrency?: number;
  /** Accounts of one lane worked on at once. Default 2. */
  readonly laneConcurrency?: number;
  /** How many of the latest signals the journal view covers. Default 300. */
  readonly lookbackSignals?: number;
  /** How old a signal may be and still count. Default 7 days. */
  readonly lookbackMs?: number;
  /** A signal `executing` for longer than this is taken to be abandoned. Default 10 min. */
  readonly staleExecutingMs?: number;
  /** A repair the broker refused is tried again after this, not every cycle. Default 10 min. */
  readonly repairRetryMs?: number;
}

export type FindingKind =
  /** A journal row of unknown outcome whose order the broker has. */
  | 'settled_found'
  /** A journal row of unknown outcome whose order the broker does not have. */
  | 'settled_missing'
  /** A take-profit or stop of ours still working with no position (or on the wrong side of it). */
  | 'orphan_exit'
  | 'missing_take_profit'
  | 'missing_stop'
  /** A take-profit or stop sized differently from the position. */
  | 'size_mismatch'
  /** More than one take-profit, or more than one stop, for one position. */
  | 'duplicate_exit'
  | 'unmanaged_position'
  | 'unmanaged_order'
  /** The broker could not be read (or a lookup failed); tried again next cycle. */
  | 'read_failed';

export type FindingAction =
  | 'settled'
  | 'cancelled'
  | 'placed'
  | 'modified'
  | 'liquidated'
  | 'reported'
  /** The repair was sent and refused, or its outcome is unknown (settled next cycle). */
  | 'failed';

export interface Finding {
  readonly kind: FindingKind;
  readonly action: FindingAction;
  readonly contract: string | null;
  /** One sentence for people. */
  readonly detail: string;
  readonly orderId?: string;
  /** The journal's client order id of the repair, or of the settled row. */
  readonly clientOrderId?: string;
  /**
   * False for what an earlier cycle already reported and is still so: an unmanaged position or
   * order, a repair that keeps failing, an account that cannot be read.
   */
  readonly new: boolean;
}

export interface AccountReconciliation {
  readonly accountId: string;
  readonly accountName: string;
  readonly ownerUserId: string;
  readonly credentialId: string;
  /**
   * clean: nothing to do; drift: something was found; busy: a fan-out is at work (only settled);
   * deferred: the credential's budget (or the end of the cycle) left it for the next cycle;
   * failed: the broker could not be read.
   */
  readonly status: 'clean' | 'drift' | 'busy' | 'deferred' | 'failed';
  readonly findings: readonly Finding[];
}

/** What one cycle found and did; accounts with nothing to report are counted, not listed. */
export interface ReconcileReport {
  /** This process's cycle number, from 1. */
  readonly cycle: number;
  /** The signal record the cycle's repairs are journaled under; null when nothing was sent. */
  readonly signalId: string | null;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly durationMs: number;
  readonly accounts: number;
  readonly checked: number;
  readonly clean: number;
  readonly busy: number;
  readonly deferred: number;
  readonly failed: number;
  /** Journal rows settled. */
  readonly settled: number;
  /** Repairs sent and acknowledged. */
  readonly repaired: number;
  /** Findings not reported before (unmanaged items reported once, every repair, every failure). */
  readonly newFindings: number;
  /** True when the cycle was told to stop before it walked every account. */
  readonly aborted: boolean;
  readonly results: readonly AccountReconciliation[];
}

/** Who reconciliation's repairs are recorded as. */
export const RECONCILER_PRINCIPAL: Principal = {
  platform: 'console',
  userId: 'reconciler',
  displayName: 'Reconciliation',
};

/** Dedup keys of the cycles' signal records start with this. */
export const RECONCILE_DEDUP_PREFIX = 'reconcile:';

/**
 * The body of a cycle's signal record. It is never executed; its symbol names no contract, so
 * even the engine's crash recovery, which re-runs young signals, resolves nothing and sends nothing.
 */
const RECONCILE_BODY: Signal = {
  action: 'close',
  symbol: 'RECONCILE',
  quantity: 0,
  entry: { type: 'market' },
  target: { accounts: [] },
};

const LEG_CODE: Record<OrderLeg, string> = {
  entry: 'e',
  exit: 'x',
  take_profit: 't',
  stop_loss: 's',
  cancel: 'c',
  liquidate: 'l',
};
const OUR_ID = /^tc\.r?\d+\.\d+\.([exstcl])\d+$/;
const REPORTED_KEY = 'reconcile.reported';
const FINISHED: ReadonlySet<SignalStatus> = new Set(['done', 'rejected', 'failed']);

/** A repair's client order id: deterministic from the cycle's signal, the account, the leg and a count. */
export function repairOrderId(signalId: string, accountId: string, leg: OrderLeg, n: number): string {
  return `tc.r${signalId}.${accountId}.${LEG_CODE[leg]}${n}`.slice(0, 64);
}

/** Whether a client order id is one of ours (a signal's or a reconciliation's). */
export function isOurClientOrderId(clientOrderId: string | null): boolean {
  return clientOrderId?.startsWith('tc.') ?? false;
}

function legCodeOf(clientOrderId: string | null): string | null {
  if (!clientOrderId) return null;
  return OUR_ID.exec(clientOrderId)?.[1] ?? null;
}

/** A journal row that took effect at the broker. */
function effective(row: JournalEntry): boolean {
  return row.state === 'acked' || (row.state === 'reconciled' && !row.reason?.startsWith('not_at_broker'));
}

function compareRows(a: JournalEntry, b: JournalEntry): number {
  const t = a.createdAt.getTime() - b.createdAt.getTime();
  if (t !== 0) return t;
  return a.id.length - b.id.length || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** What the journal says about one account. */
interface AccountHistory {
  /** Broker order ids our rows carry. */
  readonly ours: ReadonlySet<string>;
  /** Of those, bracket legs and protective orders. */
  readonly protective: ReadonlySet<string>;
  /** Contracts whose latest entry, exit or liquidation of ours is an entry: a position of ours. */
  readonly open: ReadonlySet<string>;
  /** Per contract, the latest entry's signal (for its bracket levels). */
  readonly lastEntry: ReadonlyMap<string, JournalEntry>;
  /** Newest row of a trading signal (not of reconciliation), by creation, ms. */
  readonly lastActivity: number;
  /** Newest update of a row of a trading signal still planned or sending, ms. */
  readonly lastInFlight: number;
}

interface CachedSignal {
  readonly record: RecentSignal;
  readonly reconcile: boolean;
  rows: JournalEntry[];
  /** Finished with every row terminal: nothing but this process changes its rows any more. */
  final: boolean;
}

/**
 * The recent journal, by account, built from the signals the repositories list newest first.
 * Finished signals are read once; signals in progress are read again each cycle.
 */
class JournalIndex {
  private readonly cache = new Map<string, CachedSignal>();
  private byAccount = new Map<string, JournalEntry[]>();
  private readonly histories = new Map<string, AccountHistory>();
  private stale = true;

  constructor(
    private readonly stores: ReconcileStores,
    private readonly lookbackSignals: number,
    private readonly lookbackMs: number,
  ) {}

  async refresh(now: Date): Promise<void> {
    const recent = await this.stores.signals.recent(this.lookbackSignals);
    const keep = new Set<string>();
    for (const s of recent) {
      if (now.getTime() - s.createdAt.getTime() > this.lookbackMs) continue;
      keep.add(s.id);
      await this.load(s);
    }
    for (const id of this.cache.keys()) {
      if (!keep.has(id)) {
        this.cache.delete(id);
        this.stale = true;
      }
    }
    this.rebuild();
  }

  /** Pick up signals that arrived since the last refresh (a fan-out starting mid-cycle). */
  async refreshHead(): Promise<void> {
    for (const s of await this.stores.signals.recent(3)) await this.load(s);
    this.rebuild();
  }

  /** Whether a trading signal is being executed (fan-outs repair nothing while one runs). */
  executing(now: Date, staleMs: number): boolean {
    for (const c of this.cache.values()) {
      if (c.reconcile || FINISHED.has(c.record.status)) continue;
      if (now.getTime() - c.record.createdAt.getTime() < staleMs) return true;
    }
    return false;
  }

  /** A signal record made by this process (a cycle's), so its rows join the view without a read. */
  addSignal(record: RecentSignal): void {
    this.cache.set(record.id, { record, reconcile: true, rows: [], final: true });
  }

  addRows(rows: readonly JournalEntry[]): void {
    for (const row of rows) {
      this.cache.get(row.signalId)?.rows.push(row);
      const list = this.byAccount.get(row.accountId);
      if (list) list.push(row);
      else this.byAccount.set(row.accountId, [row]);
      this.histories.delete(row.accountId);
    }
  }

  /** Apply a state change this process made to a row. */
  update(
    row: JournalEntry,
    change: Partial<Pick<JournalEntry, 'state' | 'brokerOrderIds' | 'reason'>>,
  ): void {
    const next: JournalEntry = { ...row, ...change, updatedAt: new Date() };
    const replace = (list: JournalEntry[] | undefined) => {
      if (!list) return;
      const i = list.findIndex((r) => r.id === row.id);
      if (i >= 0) list[i] = next;
    };
    replace(this.cache.get(row.signalId)?.rows);
    replace(this.byAccount.get(row.accountId));
    this.histories.delete(row.accountId);
  }

  signalOf(signalId: string): RecentSignal | null {
    return this.cache.get(signalId)?.record ?? null;
  }

  history(accountId: string): AccountHistory {
    let h = this.histories.get(accountId);
    if (!h) {
      h = this.build(this.byAccount.get(accountId) ?? []);
      this.histories.set(accountId, h);
    }
    return h;
  }

  private async load(s: RecentSignal): Promise<void> {
    const cached = this.cache.get(s.id);
    if (cached?.final) return;
    const rows = await this.stores.journal.listBySignal(s.id);
    const reconcile = s.dedupKey.startsWith(RECONCILE_DEDUP_PREFIX);
    this.cache.set(s.id, {
      record: s,
      reconcile,
      rows,
      final: FINISHED.has(s.status) && rows.every((r) => TERMINAL_STATES.has(r.state)),
    });
    this.stale = true;
  }

  private rebuild(): void {
    if (!this.stale) return;
    this.stale = false;
    this.byAccount = new Map();
    for (const c of this.cache.values()) {
      for (const row of c.rows) {
        const list = this.byAccount.get(row.accountId);
        if (list) list.push(row);
        else this.byAccount.set(row.accountId, [row]);
      }
    }
    this.histories.clear();
  }

  private build(rows: readonly JournalEntry[]): AccountHistory {
    const ours = new Set<string>();
    const protective = new Set<string>();
    const latestPosition = new Map<string, JournalEntry>();
    const lastEntry = new Map<string, JournalEntry>();
    let lastActivity = 0;
    let lastInFlight = 0;
    for (const row of rows) {
      const trading = !this.cache.get(row.signalId)?.reconcile;
      if (trading) {
        lastActivity = Math.max(lastActivity, row.createdAt.getTime());
        if (row.state === 'planned' || row.state === 'sending') {
          lastInFlight = Math.max(lastInFlight, row.updatedAt.getTime());
        }
      }
      row.brokerOrderIds.forEach((id, i) => {
        ours.add(id);
        if (row.leg === 'take_profit' || row.leg === 'stop_loss' || (row.leg === 'entry' && i > 0)) {
          protective.add(id);
        }
      });
      if (!effective(row)) continue;
      if (row.leg === 'entry' || row.leg === 'exit' || row.leg === 'liquidate') {
        const contract = row.plan.contract;
        const before = latestPosition.get(contract);
        if (!before || compareRows(before, row) < 0) latestPosition.set(contract, row);
        if (row.leg === 'entry') {
          const entry = lastEntry.get(contract);
          if (!entry || compareRows(entry, row) < 0) lastEntry.set(contract, row);
        }
      }
    }
    const open = new Set<string>();
    for (const [contract, row] of latestPosition) if (row.leg === 'entry') open.add(contract);
    return { ours, protective, open, lastEntry, lastActivity, lastInFlight };
  }
}

/** State shared by the accounts of one cycle. */
interface Cycle {
  readonly number: number;
  readonly startedAt: Date;
  readonly now: Date;
  /** The cycle's signal record, made on the first repair. */
  signalId: Promise<string> | null;
  /** Repairs journaled. */
  repairs: number;
  readonly seq: Map<string, number>;
  readonly reported: Map<string, ReadonlySet<string>>;
  readonly seen: Map<string, Set<string>>;
  readonly tickSizes: Map<string, Promise<number | null>>;
}

/** Reconciliation of every enabled account against its broker. */
export class Reconciler {
  private readonly index: JournalIndex;
  private readonly graceMs: number;
  private readonly quietMs: number;
  private readonly budgetShare: number;
  private readonly concurrency: number;
  private readonly laneConcurrency: number;
  private readonly staleExecutingMs: number;
  private readonly defaultTicks: { readonly take_profit: number; readonly stop_loss: number };
  /** Per lane, where the next cycle starts, so a lane cut short by its budget gets round. */
  private readonly cursors = new Map<string, number>();
  /** When a repair (account, kind, contract, order) last failed, ms. */
  private readonly failedRepairs = new Map<string, number>();
  private readonly repairRetryMs: number;
  private reportedInMemory = new Map<string, ReadonlySet<string>>();
  private cycles = 0;
  private last: ReconcileReport | null = null;

  constructor(private readonly options: ReconcilerOptions) {
    this.graceMs = options.graceMs ?? 120_000;
    this.quietMs = options.quietMs ?? 60_000;
    this.budgetShare = options.budgetShare ?? 0.5;
    this.concurrency = options.concurrency ?? 32;
    this.laneConcurrency = options.laneConcurrency ?? 2;
    this.staleExecutingMs = options.staleExecutingMs ?? 10 * 60_000;
    this.repairRetryMs = options.repairRetryMs ?? 10 * 60_000;
    this.defaultTicks = {
      take_profit: options.defaultTakeProfitTicks ?? 40,
      stop_loss: options.defaultStopLossTicks ?? 40,
    };
    this.index = new JournalIndex(
      options.stores,
      options.lookbackSignals ?? 300,
      options.lookbackMs ?? 7 * 24 * 3_600_000,
    );
  }

  /** The last finished cycle's report, for the dashboard; null before the first. */
  lastReport(): ReconcileReport | null {
    return this.last;
  }

  /** Run one cycle over every enabled account. `signal` stops it between accounts. */
  async reconcile(signal?: AbortSignal): Promise<ReconcileReport> {
    const { stores, clock, log } = this.options;
    const started = performance.now();
    const now = clock.now();
    const cycle: Cycle = {
      number: ++this.cycles,
      startedAt: now,
      now,
      signalId: null,
      repairs: 0,
      seq: new Map(),
      reported: await this.loadReported(),
      seen: new Map(),
      tickSizes: new Map(),
    };
    await this.index.refresh(now);
    const [accounts, open] = await Promise.all([stores.accounts.listAll(), stores.journal.listNonTerminal()]);
    const openByAccount = new Map<string, JournalEntry[]>();
    for (const row of open) {
      const list = openByAccount.get(row.accountId);
      if (list) list.push(row);
      else openByAccount.set(row.accountId, [row]);
    }
    // Disabled accounts are not checked, but what was sent for them is still settled.
    const walk = accounts.filter((a) => a.enabled || openByAccount.has(a.id));
    const lanes = new Map<string, ReconcileAccount[]>();
    for (const account of walk) {
      const key = `${account.broker}:${account.credentialId}`;
      const lane = lanes.get(key);
      if (lane) lane.push(account);
      else lanes.set(key, [account]);
    }

    const results: AccountReconciliation[] = [];
    await runPool([...lanes], this.concurrency, async ([key, laneAccounts]) => {
      const start = (this.cursors.get(key) ?? 0) % laneAccounts.length;
      const ordered = [...laneAccounts.slice(start), ...laneAccounts.slice(0, start)];
      let cutAt: number | null = null;
      const rank = new Map(ordered.map((a, i) => [a, i]));
      await runPool(ordered, Math.max(1, this.laneConcurrency), async (account) => {
        const position = rank.get(account)!;
        if (signal?.aborted || (cutAt !== null && position > cutAt)) {
          results.push(this.result(account, 'deferred', []));
          return;
        }
        if (!(await this.withinBudget(account))) {
          cutAt = cutAt === null ? position : Math.min(cutAt, position);
          results.push(this.result(account, 'deferred', []));
          return;
        }
        try {
          results.push(await this.reconcileAccount(account, openByAccount.get(account.id) ?? [], cycle));
        } catch (error) {
          log.error({ err: error, accountId: account.id }, 'reconciliation of an account failed');
          results.push(
            this.result(account, 'failed', [
              {
                kind: 'read_failed',
                action: 'failed',
                contract: null,
                detail: `internal: ${(error as Error).message}`,
                new: this.remember(cycle, account.id, 'read_failed'),
              },
            ]),
          );
        }
      });
      const nextStart = cutAt === null ? 0 : (start + cutAt) % laneAccounts.length;
      this.cursors.set(key, nextStart);
    });

    if (cycle.signalId) {
      const id = await cycle.signalId;
      await stores.signals.setStatus(id, 'done', { cycle: cycle.number, repairs: cycle.repairs });
    }
    await this.saveReported(cycle, results);

    const finished = clock.now();
    const count = (s: AccountReconciliation['status']) => results.filter((r) => r.status === s).length;
    const findings = results.flatMap((r) => r.findings);
    const report: ReconcileReport = {
      cycle: cycle.number,
      signalId: cycle.signalId ? await cycle.signalId : null,
      startedAt: now,
      finishedAt: finished,
      durationMs: Math.round(performance.now() - started),
      accounts: walk.length,
      checked: results.filter((r) => r.status !== 'deferred').length,
      clean: count('clean'),
      busy: count('busy'),
      deferred: count('deferred'),
      failed: count('failed'),
      settled: findings.filter((f) => f.action === 'settled').length,
      repaired: findings.filter((f) => ['cancelled', 'placed', 'modified', 'liquidated'].includes(f.action))
        .length,
      newFindings: findings.filter((f) => f.new).length,
      aborted: signal?.aborted ?? false,
      results: results
        .filter((r) => r.status !== 'clean')
        .sort((a, b) => a.accountId.length - b.accountId.length || (a.accountId < b.accountId ? -1 : 1)),
    };
    this.last = report;
    return report;
  }

  private async reconcileAccount(
    account: ReconcileAccount,
    openRows: readonly JournalEntry[],
    cycle: Cycle,
  ): Promise<AccountReconciliation> {
    const broker = this.options.brokers.get(account.broker);
    if (!broker) {
      return this.result(account, 'failed', [
        {
          kind: 'read_failed',
          action: 'failed',
          contract: null,
          detail: `no broker ${account.broker}`,
          new: this.remember(cycle, account.id, 'read_failed'),
        },
      ]);
    }
    const ref: AccountRef = { credentialId: account.credentialId, brokerAccountId: account.brokerAccountId };
    const findings: Finding[] = [];
    const [positionsRead, ordersRead] = await Promise.all([
      broker.positions(ref, BACKGROUND),
      broker.workingOrders(ref, BACKGROUND),
    ]);
    const readError: BrokerError | null = !positionsRead.ok
      ? positionsRead.error
      : !ordersRead.ok
        ? ordersRead.error
        : null;
    if (readError || !positionsRead.ok || !ordersRead.ok) {
      return this.result(account, 'failed', [
        {
          kind: 'read_failed',
          action: 'failed',
          contract: null,
          detail: `${readError?.reason}: could not read the account: ${readError?.message}`,
          // Reported once while it lasts: an account that cannot be read is not news every cycle.
          new: this.remember(cycle, account.id, 'read_failed'),
        },
      ]);
    }
    const working = ordersRead.value.filter((o) => o.status === 'working' || o.status === 'pending');

    for (const row of openRows) {
      const finding = await this.settle(broker, ref, row, working, cycle);
      if (finding) findings.push(finding);
    }
    if (!account.enabled) return this.result(account, findings.length > 0 ? 'drift' : 'clean', findings);

    if (this.busy(account, cycle.now)) return this.result(account, 'busy', findings);
    // A fan-out may have begun since the cycle started: look again before changing anything.
    const history = this.index.history(account.id);
    const repairs = new Repairs(this, broker, ref, account, cycle, findings);
    const positions = new Map<string, BrokerPosition>(
      positionsRead.value.filter((p) => p.netQuantity !== 0).map((p) => [p.contract, p]),
    );
    const byId = new Map(working.map((o) => [o.orderId, o]));
    const ours = (o: BrokerOrder): boolean => {
      if (isOurClientOrderId(o.clientOrderId) || history.ours.has(o.orderId)) return true;
      if (o.parentOrderId === null) return false;
      return (
        history.ours.has(o.parentOrderId) ||
        isOurClientOrderId(byId.get(o.parentOrderId)?.clientOrderId ?? null)
      );
    };
    const protective = (o: BrokerOrder): boolean => {
      const code = legCodeOf(o.clientOrderId);
      return o.parentOrderId !== null || code === 't' || code === 's' || history.protective.has(o.orderId);
    };
    // A leg waiting for its entry (or whose entry still works) is not ours to judge yet.
    const live = (o: BrokerOrder): boolean =>
      o.status === 'working' && (o.parentOrderId === null || !byId.has(o.parentOrderId));

    const exits = working.filter((o) => ours(o) && protective(o) && live(o));
    const unmanagedOrders = working.filter((o) => !ours(o));
    const contracts = new Set([...positions.keys(), ...exits.map((o) => o.contract)]);
    const unmanagedPositions: BrokerPosition[] = [];

    for (const contract of [...contracts].sort()) {
      const position = positions.get(contract);
      const mine = exits.filter((o) => o.contract === contract);
      if (!position) {
        for (const o of mine) {
          await repairs.cancel(
            o,
            'orphan_exit',
            `${describeOrder(o)} was still working with no position left`,
          );
        }
        continue;
      }
      if (!history.open.has(contract)) {
        unmanagedPositions.push(position);
        continue;
      }
      const exitSide: Side = position.netQuantity > 0 ? 'sell' : 'buy';
      const total = Math.abs(position.netQuantity);
      for (const o of mine.filter((x) => x.side !== exitSide)) {
        await repairs.cancel(
          o,
          'orphan_exit',
          `${describeOrder(o)} was on the wrong side of a ${signed(position)} position`,
        );
      }
      const sameSide = mine.filter((x) => x.side === exitSide);
      for (const [leg, type] of [
        ['take_profit', 'limit'],
        ['stop_loss', 'stop'],
      ] as const) {
        const list = sameSide.filter((o) => o.type === type);
        if (list.length === 0) {
          if (account.bracketPolicy === 'require')
            await repairs.place(leg, position, history.lastEntry.get(contract) ?? null);
          continue;
        }
        const keep = list.find((o) => o.quantity === total) ?? list[0]!;
        for (const stray of list.filter((o) => o !== keep)) {
          await repairs.cancel(
            stray,
            'duplicate_exit',
            `a second ${legName(leg)} (${describeOrder(stray)}) for one position`,
          );
        }
        if (keep.quantity !== total) await repairs.resize(leg, keep, position);
      }
    }

    for (const position of unmanagedPositions) {
      const fingerprint = `position:${position.contract}:${position.netQuantity}`;
      const isNew = this.remember(cycle, account.id, fingerprint);
      if (account.unmanagedPolicy === 'flatten') {
        for (const o of unmanagedOrders.filter((x) => x.contract === position.contract)) {
          await repairs.cancel(
            o,
            'unmanaged_order',
            `${describeOrder(o)} was not placed by us (flatten policy)`,
          );
        }
        await repairs.liquidate(position);
      } else {
        findings.push({
          kind: 'unmanaged_position',
          action: 'reported',
          contract: position.contract,
          detail: `a ${signed(position)} position no signal of ours opened; left alone`,
          new: isNew,
        });
      }
    }
    for (const o of unmanagedOrders) {
      if (account.unmanagedPolicy === 'flatten') {
        if (unmanagedPositions.some((p) => p.contract === o.contract)) continue;
        await repairs.cancel(
          o,
          'unmanaged_order',
          `${describeOrder(o)} was not placed by us (flatten policy)`,
        );
        continue;
      }
      const fingerprint = `order:${o.orderId}:${o.quantity}:${o.price ?? o.stopPrice ?? ''}`;
      findings.push({
        kind: 'unmanaged_order',
        action: 'reported',
        contract: o.contract,
        detail: `${describeOrder(o)} was not placed by us; left alone`,
        orderId: o.orderId,
        new: this.remember(cycle, account.id, fingerprint),
      });
    }
    return this.result(account, findings.length > 0 ? 'drift' : 'clean', findings);
  }

  /** Settle one non-terminal journal row by looking it up at the broker; null while it may still be in flight. */
  private async settle(
    broker: Broker,
    ref: AccountRef,
    row: JournalEntry,
    working: readonly BrokerOrder[],
    cycle: Cycle,
  ): Promise<Finding | null> {
    if (row.state === 'planned') return null;
    const age = cycle.now.getTime() - row.updatedAt.getTime();
    const old = age >= this.graceMs;
    if (row.state === 'sending' && !old) return null;
    const contract = row.plan.contract;
    const settled = async (
      kind: 'settled_found' | 'settled_missing',
      brokerOrderIds: readonly string[] | undefined,
      reason: string | null,
      detail: string,
    ): Promise<Finding> => {
      await this.options.stores.journal.updateMany([
        { id: row.id, state: 'reconciled', reason, ...(brokerOrderIds ? { brokerOrderIds } : {}) },
      ]);
      this.index.update(row, { state: 'reconciled', reason, ...(brokerOrderIds ? { brokerOrderIds } : {}) });
      await this.audit(row.accountId, 'reconcile.settled', {
        clientOrderId: row.clientOrderId,
        leg: row.leg,
        from: row.state,
        found: kind === 'settled_found',
        ...(brokerOrderIds ? { brokerOrderIds } : {}),
        ...(reason ? { reason } : {}),
      });
      return {
        kind,
        action: 'settled',
        contract,
        detail,
        clientOrderId: row.clientOrderId,
        ...(brokerOrderIds?.[0] ? { orderId: brokerOrderIds[0] } : {}),
        new: true,
      };
    };

    if (row.leg === 'cancel') {
      // A cancel carries no client order id at the broker: whether its order still works says it all.
      const target = row.plan.targetOrderId;
      const stillWorking = target !== undefined && working.some((o) => o.orderId === target);
      if (!stillWorking) {
        return settled(
          'settled_found',
          undefined,
          null,
          `the ${row.state} cancel of order ${target ?? '?'} took effect`,
        );
      }
      if (!old) return null;
      return settled(
        'settled_missing',
        undefined,
        `not_at_broker: order ${target} is still working; the cancel did not reach the broker`,
        `the ${row.state} cancel of order ${target} never took effect`,
      );
    }
    const found = await broker.findOrder(ref, row.clientOrderId, BACKGROUND);
    if (!found.ok) {
      return {
        kind: 'read_failed',
        action: 'failed',
        contract,
        detail: `${found.error.reason}: could not look up ${row.clientOrderId}: ${found.error.message}`,
        clientOrderId: row.clientOrderId,
        new: this.remember(cycle, row.accountId, `lookup_failed:${row.clientOrderId}`),
      };
    }
    if (found.value) {
      const ids = [found.value.orderId, ...row.brokerOrderIds.filter((id) => id !== found.value!.orderId)];
      return settled(
        'settled_found',
        ids,
        null,
        `the ${row.state} ${legName(row.leg)} ${row.clientOrderId} is at the broker as order ${found.value.orderId}`,
      );
    }
    if (!old) return null;
    const seconds = Math.round(this.graceMs / 1000);
    return settled(
      'settled_missing',
      undefined,
      `not_at_broker: no order with client order id ${row.clientOrderId} ${seconds} s after it was sent`,
      `the ${row.state} ${legName(row.leg)} ${row.clientOrderId} never reached the broker`,
    );
  }

  private busy(account: ReconcileAccount, now: Date): boolean {
    const h = this.index.history(account.id);
    return (
      now.getTime() - h.lastActivity < this.quietMs ||
      now.getTime() - h.lastInFlight < this.graceMs ||
      this.index.executing(now, this.staleExecutingMs)
    );
  }

  /** Checked just before a repair is sent: a fan-out that began mid-cycle wins over the repair. */
  async mayRepair(account: ReconcileAccount, now: Date): Promise<boolean> {
    await this.index.refreshHead();
    return !this.busy(account, now);
  }

  private async withinBudget(account: ReconcileAccount): Promise<boolean> {
    const use = await this.options.budgetUsage?.(account.broker, account.credentialId);
    if (!use) return true;
    return use.minute < use.limits.minute * this.budgetShare && use.hour < use.limits.hour * this.budgetShare;
  }

  /** Whether a reportable item is new for the account; it is remembered as seen this cycle. */
  remember(cycle: Cycle, accountId: string, fingerprint: string): boolean {
    let seen = cycle.seen.get(accountId);
    if (!seen) {
      seen = new Set();
      cycle.seen.set(accountId, seen);
    }
    seen.add(fingerprint);
    return !(cycle.reported.get(accountId)?.has(fingerprint) ?? false);
  }

  private async loadReported(): Promise<Map<string, ReadonlySet<string>>> {
    const settings = this.options.stores.settings;
    if (!settings) return new Map(this.reportedInMemory);
    const stored = (await settings.get<Record<string, string[]>>(REPORTED_KEY)) ?? {};
    return new Map(Object.entries(stored).map(([k, v]) => [k, new Set(v)]));
  }

  /** Keep what was reported for accounts checked this cycle; accounts not checked keep theirs. */
  private async saveReported(cycle: Cycle, results: readonly AccountReconciliation[]): Promise<void> {
    const next = new Map(cycle.reported);
    let changed = false;
    for (const r of results) {
      if (r.status === 'busy' || r.status === 'deferred') continue;
      const seen = cycle.seen.get(r.accountId);
      const before = cycle.reported.get(r.accountId);
      if (!seen || seen.size === 0) {
        if (before) {
          next.delete(r.accountId);
          changed = true;
        }
        continue;
      }
      if (!before || before.size !== seen.size || [...seen].some((f) => !before.has(f))) changed = true;
      next.set(r.accountId, seen);
    }
    if (!changed) return;
    this.reportedInMemory = next;
    const settings = this.options.stores.settings;
    if (settings) {
      await settings.set(REPORTED_KEY, Object.fromEntries([...next].map(([k, v]) => [k, [...v]])));
    }
  }

  /** The cycle's signal record, made on the first repair. */
  cycleSignal(cycle: Cycle): Promise<string> {
    if (!cycle.signalId) {
      const { signals } = this.options.stores;
      cycle.signalId = (async () => {
        const { signal } = await signals.insertIfNew({
          dedupKey: `${RECONCILE_DEDUP_PREFIX}${cycle.startedAt.toISOString()}:${crypto.randomUUID()}`,
          source: 'command',
          principal: RECONCILER_PRINCIPAL,
          body: RECONCILE_BODY,
        });
        await signals.setStatus(signal.id, 'executing');
        this.index.addSignal({ ...signal, status: 'executing' });
        return signal.id;
      })();
    }
    return cycle.signalId;
  }

  /**
   * Whether a repair that failed lately should wait; while it waits (and when it fails again) the
   * failure is reported once, not every cycle.
   */
  repairBackoff(cycle: Cycle, key: string): boolean {
    const at = this.failedRepairs.get(key);
    return at !== undefined && cycle.now.getTime() - at < this.repairRetryMs;
  }

  repairOutcome(cycle: Cycle, key: string, ok: boolean): void {
    if (ok) this.failedRepairs.delete(key);
    else this.failedRepairs.set(key, cycle.now.getTime());
  }

  nextSeq(cycle: Cycle, accountId: string): number {
    const n = cycle.seq.get(accountId) ?? 0;
    cycle.seq.set(accountId, n + 1);
    return n;
  }

  /** Write a repair's journal row, send it, record the outcome and audit it. */
  async journaled(
    cycle: Cycle,
    account: ReconcileAccount,
    leg: OrderLeg,
    plan: OrderPlan,
    send: (clientOrderId: string) => Promise<BrokerResult<readonly string[]>>,
    audit: { action: string; details: Record<string, unknown> },
  ): Promise<
    | { ok: true; ids: readonly string[]; clientOrderId: string }
    | { ok: false; reason: string; clientOrderId: string }
  > {
    const { journal } = this.options.stores;
    const signalId = await this.cycleSignal(cycle);
    const seq = this.nextSeq(cycle, account.id);
    const clientOrderId = repairOrderId(signalId, account.id, leg, seq);
    const entry: NewJournalEntry = {
      signalId,
      accountId: account.id,
      clientOrderId,
      leg,
      seq,
      state: 'planned',
      plan,
    };
    const [row] = await journal.insertMany([entry]);
    if (!row) throw new Error('journal insert returned no row');
    this.index.addRows([row]);
    await journal.updateMany([{ id: row.id, state: 'sending' }]);
    cycle.repairs++;
    let result: BrokerResult<readonly string[]>;
    try {
      result = await send(clientOrderId);
    } catch (error) {
      // Whatever happened, it may have reached the broker: leave it to be settled, never resent blindly.
      result = {
        ok: false,
        error: { kind: 'outcome_unknown', reason: 'Internal', message: String(error), retryable: true },
      };
    }
    if (result.ok) {
      const ids = [...result.value];
      await journal.updateMany([{ id: row.id, state: 'acked', brokerOrderIds: ids, reason: null }]);
      this.index.update(row, { state: 'acked', brokerOrderIds: ids, reason: null });
      await this.audit(account.id, audit.action, { ...audit.details, clientOrderId, brokerOrderIds: ids });
      return { ok: true, ids, clientOrderId };
    }
    const error = result.error;
    const reason =
      error.kind === 'rejected' || error.kind === 'outcome_unknown'
        ? `${error.reason}: ${error.message}`
        : `${error.reason}: not sent: ${error.message}`;
    const state = error.kind === 'outcome_unknown' ? 'unknown' : 'rejected';
    await journal.updateMany([{ id: row.id, state, reason }]);
    this.index.update(row, { state, reason });
    await this.audit(account.id, `${audit.action}_failed`, { ...audit.details, clientOrderId, reason });
    return { ok: false, reason, clientOrderId };
  }

  async tickSize(
    cycle: Cycle,
    broker: Broker,
    account: ReconcileAccount,
    contract: string,
  ): Promise<number | null> {
    const key = `${account.broker}:${account.credentialId}:${contract}`;
    let hit = cycle.tickSizes.get(key);
    if (!hit) {
      hit = broker
        .resolveContract(account.credentialId, contract, BACKGROUND)
        .then((r) => (r.ok ? r.value.tickSize : null));
      cycle.tickSizes.set(key, hit);
    }
    return hit;
  }

  /** The bracket level the latest signal of ours gave for the contract, as a price for this position. */
  levelFor(
    leg: 'take_profit' | 'stop_loss',
    entry: JournalEntry | null,
    position: BrokerPosition,
    tickSize: number,
  ): { price: number; source: 'signal' | 'default' } {
    const long = position.netQuantity > 0;
    const planned: BracketLevel | undefined =
      leg === 'take_profit' ? entry?.plan.takeProfit : entry?.plan.stopLoss;
    let level: BracketLevel | null = planned ?? null;
    if (!level && entry) {
      // An add (DCA) journals no levels; its signal carries them.
      const body = this.index.signalOf(entry.signalId)?.body;
      const spec = leg === 'take_profit' ? body?.takeProfit : body?.stopLoss;
      if (spec) level = bracketLevel(spec, tickSize, body?.referencePrice);
    }
    if (level?.kind === 'price') return { price: roundToTick(level.price, tickSize), source: 'signal' };
    const ticks = level?.kind === 'offset' ? level.ticks : this.defaultTicks[leg];
    const direction = (long ? 1 : -1) * (leg === 'take_profit' ? 1 : -1);
    return {
      price: roundToTick(position.averagePrice + direction * ticks * tickSize, tickSize),
      source: level ? 'signal' : 'default',
    };
  }

  async audit(accountId: string, action: string, details: Record<string, unknown>): Promise<void> {
    try {
      await this.options.stores.audit.record({
        actor: 'job:reconcile',
        action,
        subject: `account:${accountId}`,
        details,
      });
    } catch (error) {
      this.options.log.warn({ err: error, accountId, action }, 'could not audit a reconciliation step');
    }
  }

  private result(
    account: ReconcileAccount,
    status: AccountReconciliation['status'],
    findings: readonly Finding[],
  ): AccountReconciliation {
    return {
      accountId: account.id,
      accountName: account.name,
      ownerUserId: account.ownerUserId,
      credentialId: account.credentialId,
      status: status === 'clean' && findings.length > 0 ? 'drift' : status,
      findings,
    };
  }
}

/** The repairs of one account in one cycle; each is journaled, sent, and recorded as a finding. */
class Repairs {
  constructor(
    private readonly reconciler: Reconciler,
    private readonly broker: Broker,
    private readonly ref: AccountRef,
    private readonly account: ReconcileAccount,
    private readonly cycle: Cycle,
    private readonly findings: Finding[],
  ) {}

  async cancel(order: BrokerOrder, kind: FindingKind, detail: string): Promise<void> {
    const plan: OrderPlan = {
      contract: order.contract,
      side: null,
      quantity: order.quantity,
      targetOrderId: order.orderId,
    };
    await this.attempt({
      kind,
      contract: order.contract,
      orderId: order.orderId,
      leg: 'cancel',
      plan,
      done: 'cancelled',
      detail,
      audit: { action: `reconcile.${kind}.cancelled`, details: { orderId: order.orderId, detail } },
      send: async () => {
        const c = await this.broker.cancelOrder({ account: this.ref, orderId: order.orderId }, BACKGROUND);
        return c.ok ? { ok: true, value: [order.orderId] } : c;
      },
    });
  }

  async place(
    leg: 'take_profit' | 'stop_loss',
    position: BrokerPosition,
    entry: JournalEntry | null,
  ): Promise<void> {
    const kind: FindingKind = leg === 'take_profit' ? 'missing_take_profit' : 'missing_stop';
    const tickSize = await this.reconciler.tickSize(this.cycle, this.broker, this.account, position.contract);
    if (tickSize === null) {
      this.findings.push({
        kind,
        action: 'failed',
        contract: position.contract,
        detail: `no ${legName(leg)}, and ${position.contract} could not be resolved to price one`,
        new: this.reconciler.remember(this.cycle, this.account.id, `failed:${kind}:${position.contract}`),
      });
      return;
    }
    const { price, source } = this.reconciler.levelFor(leg, entry, position, tickSize);
    const side: Side = position.netQuantity > 0 ? 'sell' : 'buy';
    const quantity = Math.abs(position.netQuantity);
    const type = leg === 'take_profit' ? 'limit' : 'stop';
    const priceField = leg === 'take_profit' ? 'price' : 'stopPrice';
    const what = `${legName(leg)} ${side} ${quantity} @ ${price} (${source === 'signal' ? 'from the last signal' : 'default distance'})`;
    await this.attempt({
      kind,
      contract: position.contract,
      leg,
      plan: { contract: position.contract, side, quantity, orderType: type, [priceField]: price },
      done: 'placed',
      detail: `placed a missing ${what}`,
      audit: { action: `reconcile.${kind}.placed`, details: { quantity, price, source } },
      send: async (clientOrderId) => {
        const p = await this.broker.placeOrder(
          {
            account: this.ref,
            clientOrderId,
            contract: position.contract,
            side,
            quantity,
            type,
            [priceField]: price,
          },
          BACKGROUND,
        );
        return p.ok ? { ok: true, value: [p.value.orderId] } : p;
      },
    });
  }

  async resize(
    leg: 'take_profit' | 'stop_loss',
    order: BrokerOrder,
    position: BrokerPosition,
  ): Promise<void> {
    const total = Math.abs(position.netQuantity);
    const plan: OrderPlan = {
      contract: order.contract,
      side: order.side,
      quantity: total,
      orderType: order.type === 'stop' ? 'stop' : 'limit',
      targetOrderId: order.orderId,
      ...(order.price !== null ? { price: order.price } : {}),
      ...(order.stopPrice !== null ? { stopPrice: order.stopPrice } : {}),
    };
    await this.attempt({
      kind: 'size_mismatch',
      contract: order.contract,
      orderId: order.orderId,
      leg,
      plan,
      done: 'modified',
      detail: `${legName(leg)} ${order.orderId} was for ${order.quantity} of a ${signed(position)} position; now ${total}`,
      audit: {
        action: 'reconcile.size_mismatch.modified',
        details: { orderId: order.orderId, from: order.quantity, to: total },
      },
      send: async (clientOrderId) => {
        const m = await this.broker.modifyOrder(
          { account: this.ref, orderId: order.orderId, clientOrderId, quantity: total },
          BACKGROUND,
        );
        return m.ok ? { ok: true, value: [order.orderId] } : m;
      },
    });
  }

  async liquidate(position: BrokerPosition): Promise<void> {
    await this.attempt({
      kind: 'unmanaged_position',
      contract: position.contract,
      leg: 'liquidate',
      plan: { contract: position.contract, side: null, quantity: 0, orderType: 'market' },
      done: 'liquidated',
      detail: `a ${signed(position)} position no signal of ours opened; flattened (flatten policy)`,
      audit: {
        action: 'reconcile.unmanaged_position.liquidated',
        details: { netQuantity: position.netQuantity },
      },
      send: async (clientOrderId) => {
        const l = await this.broker.liquidatePosition(
          { account: this.ref, contract: position.contract, clientOrderId },
          BACKGROUND,
        );
        return l.ok ? { ok: true, value: l.value ? [l.value.orderId] : [] } : l;
      },
    });
  }

  /**
   * One repair: skipped while a fan-out is at work (the next cycle looks again) or while an
   * earlier failure of the same repair waits out its retry time; otherwise journaled and sent.
   */
  private async attempt(r: {
    kind: FindingKind;
    contract: string;
    orderId?: string;
    leg: OrderLeg;
    plan: OrderPlan;
    done: FindingAction;
    detail: string;
    audit: { action: string; details: Record<string, unknown> };
    send: (clientOrderId: string) => Promise<BrokerResult<readonly string[]>>;
  }): Promise<void> {
    const key = `${this.account.id}:${r.kind}:${r.contract}:${r.orderId ?? ''}`;
    const fingerprint = `failed:${r.kind}:${r.contract}:${r.orderId ?? ''}`;
    const ids = r.orderId ? { orderId: r.orderId } : {};
    if (this.reconciler.repairBackoff(this.cycle, key)) {
      this.findings.push({
        kind: r.kind,
        action: 'failed',
        contract: r.contract,
        detail: `${r.detail}: not retried yet after it failed`,
        ...ids,
        new: this.reconciler.remember(this.cycle, this.account.id, fingerprint),
      });
      return;
    }
    if (!(await this.reconciler.mayRepair(this.account, this.cycle.now))) return;
    const sent = await this.reconciler.journaled(this.cycle, this.account, r.leg, r.plan, r.send, {
      action: r.audit.action,
      details: { contract: r.contract, ...r.audit.details },
    });
    this.reconciler.repairOutcome(this.cycle, key, sent.ok);
    this.findings.push(
      sent.ok
        ? {
            kind: r.kind,
            action: r.done,
            contract: r.contract,
            detail: r.detail,
            ...ids,
            ...(!r.orderId && sent.ids[0] ? { orderId: sent.ids[0] } : {}),
            clientOrderId: sent.clientOrderId,
            new: true,
          }
        : {
            kind: r.kind,
            action: 'failed',
            contract: r.contract,
            detail: `${r.detail}: failed: ${sent.reason}`,
            ...ids,
            clientOrderId: sent.clientOrderId,
            new: this.reconciler.remember(this.cycle, this.account.id, fingerprint),
          },
    );
  }
}

function legName(leg: OrderLeg): string {
  switch (leg) {
    case 'take_profit':
      return 'take-profit';
    case 'stop_loss':
      return 'stop';
    default:
      return leg;
  }
}

function signed(position: BrokerPosition): string {
  return `${position.netQuantity > 0 ? '+' : ''}${position.netQuantity} ${position.contract}`;
}

function describeOrder(o: BrokerOrder): string {
  const level = o.type === 'limit' ? ` @ ${o.price}` : o.type === 'stop' ? ` stop ${o.stopPrice}` : '';
  return `${o.type} ${o.side} ${o.quantity} ${o.contract}${level} (order ${o.orderId})`;
}
