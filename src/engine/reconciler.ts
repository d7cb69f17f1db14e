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
import type { Clock } from '../domain/clock.js';
import type { JournalEntry, OrderLeg, OrderPlan } from '../domain/orders.js';
import { TERMINAL_STATES } from '../domain/orders.js';
import { bracketLevel } from '../domain/sizing.js';
import { roundToTick } from '../domain/symbols.js';
import type { Account, BrokerName, Principal, Side, Signal } from '../domain/types.js';
import type { Logger } from '../log.js';
import { groupBy, runPool } from './pool.js';
import type { JournalStore, NewJournalEntry, SettingsStore, SignalStatus, SignalStore } from './stores.js';
import { RECONCILE_DEDUP_PREFIX } from './stores.js';

const BACKGROUND: CallOptions = { priority: 'background' };

/** An account as reconciliation sees it: the engine's account and its two policies. */
export interface ReconcileAccount extends Account {
  /** `require`: a position of ours must have a take-profit and a stop; `keep`: leave it as it is. */
  readonly bracketPolicy: 'keep' | 'require';
  /** What to do with positions and orders we did not make: report them, or flatten them. */
  readonly unmanagedPolicy: 'report' | 'flatten';
  /** When we started managing it: a journal view reaching back this far has its whole history. */
  readonly createdAt: Date;
}

/** A signal as listed newest first; `SignalsRepository.recentHeads` satisfies it. */
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
  readonly signals: SignalStore & { recentHeads(limit: number): Promise<readonly RecentSignal[]> };
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

/** What a {@link Reconciler} is built from; only `brokers`, `stores`, `clock` and `log` are required. */
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
  /**
   * How many of the latest signals the journal view covers. Default 200. The view holds one small
   * record per journal row of these signals (about 150 bytes), so 200 fan-outs to 10,000 accounts
   * take some 300 MB; lower it for such deployments.
   */
  readonly lookbackSignals?: number;
  /** How old a signal may be and still count. Default 14 days. */
  readonly lookbackMs?: number;
  /** A signal `executing` for longer than this is taken to be abandoned. Default 10 min. */
  readonly staleExecutingMs?: number;
  /** A repair the broker refused is tried again after this, not every cycle. Default 10 min. */
  readonly repairRetryMs?: number;
}

/** What a cycle can find on an account. */
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

/** What the cycle did about a finding. */
export type FindingAction =
  | 'settled'
  | 'cancelled'
  | 'placed'
  | 'modified'
  | 'liquidated'
  | 'reported'
  /** The repair was sent and refused, or its outcome is unknown (settled next cycle). */
  | 'failed';

/** One thing found on one account, and what was done about it. */
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

/** One account's part of a cycle. */
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
  flatten: 'f',
};
/** Our client order ids at the broker (a `flatten` row is never sent, so its code never appears). */
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

/**
 * What the journal view keeps of a row: enough to tell which orders and positions are ours and
 * how the last signal bracketed them, and small, because it is kept for every row of every recent
 * signal.
 */
interface IndexedRow {
  readonly id: string;
  readonly signalId: string;
  readonly accountId: string;
  readonly leg: OrderLeg;
  readonly state: JournalEntry['state'];
  /** Settled as never having reached the broker. */
  readonly notAtBroker: boolean;
  readonly contract: string;
  readonly brokerOrderIds: readonly string[];
  readonly takeProfit?: BracketLevel;
  readonly stopLoss?: BracketLevel;
  readonly createdAt: number;
  readonly updatedAt: number;
}

function indexed(row: JournalEntry): IndexedRow {
  return {
    id: row.id,
    signalId: row.signalId,
    accountId: row.accountId,
    leg: row.leg,
    state: row.state,
    notAtBroker: row.reason?.startsWith('not_at_broker') ?? false,
    contract: row.plan.contract,
    brokerOrderIds: row.brokerOrderIds,
    ...(row.leg === 'entry' && row.plan.takeProfit ? { takeProfit: row.plan.takeProfit } : {}),
    ...(row.leg === 'entry' && row.plan.stopLoss ? { stopLoss: row.plan.stopLoss } : {}),
    createdAt: row.createdAt.getTime(),
    updatedAt: row.updatedAt.getTime(),
  };
}

/** A row that took effect at the broker. */
function effective(row: IndexedRow): boolean {
  return row.state === 'acked' || (row.state === 'reconciled' && !row.notAtBroker);
}

/** Creation order; ids (decimal strings of one sequence) break ties. */
function compareRows(a: IndexedRow, b: IndexedRow): number {
  return a.createdAt - b.createdAt || a.id.length - b.id.length || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** What the journal says about one account. */
interface AccountHistory {
  /** Broker order ids our rows carry. */
  readonly ours: ReadonlySet<string>;
  /** Of those, bracket legs and protective orders. */
  readonly protective: ReadonlySet<string>;
  /** Contracts whose latest entry, exit or liquidation of ours is an entry: a position of ours. */
  readonly open: ReadonlySet<string>;
  /** Per contract, the latest entry of ours (its bracket levels price a missing leg). */
  readonly lastEntry: ReadonlyMap<string, IndexedRow>;
  /** Newest row of a trading signal (not of reconciliation), by creation, epoch ms. */
  readonly lastActivity: number;
  /** Newest update of a row of a trading signal still planned or sending, epoch ms. */
  readonly lastInFlight: number;
}

/** What the view keeps of a signal. */
interface IndexedSignal {
  readonly id: string;
  readonly status: SignalStatus;
  readonly body: Signal;
  readonly createdAt: number;
  /** A reconciliation cycle's record, not a trading signal. */
  readonly reconcile: boolean;
}

interface CachedSignal {
  readonly signal: IndexedSignal;
  rows: IndexedRow[];
  /** Finished with every row terminal: nothing but this process changes its rows any more. */
  final: boolean;
}

/**
 * The recent journal, by account, built from the signals the repositories list newest first.
 * Finished signals are read once; signals in progress are read again each cycle.
 */
class JournalIndex {
  private readonly cache = new Map<string, CachedSignal>();
  private byAccount = new Map<string, IndexedRow[]>();
  private readonly histories = new Map<string, AccountHistory>();
  private stale = true;
  /** The view holds every row of every signal created since then (epoch ms). */
  private coveredSince = Number.POSITIVE_INFINITY;

  constructor(
    private readonly stores: ReconcileStores,
    private readonly lookbackSignals: number,
    private readonly lookbackMs: number,
  ) {}

  async refresh(now: Date): Promise<void> {
    // Heads only: the scan runs every cycle, and each summary of a 10,000-account fan-out is megabytes.
    const recent = await this.stores.signals.recentHeads(this.lookbackSignals);
    const horizon = now.getTime() - this.lookbackMs;
    const keep = new Set<string>();
    let oldest = Number.POSITIVE_INFINITY;
    for (const s of recent) {
      const created = s.createdAt.getTime();
      if (created < horizon) continue;
      keep.add(s.id);
      oldest = Math.min(oldest, created);
      await this.load(s);
    }
    // Fewer signals than asked for means none older exists, but for those the age limit left out.
    const all = recent.length < this.lookbackSignals;
    const aged = recent.some((s) => s.createdAt.getTime() < horizon);
    this.coveredSince = all ? (aged ? horizon : Number.NEGATIVE_INFINITY) : Math.max(horizon, oldest);
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
    for (const s of await this.stores.signals.recentHeads(3)) await this.load(s);
    this.rebuild();
  }

  /** Whether the view holds the account's whole journal (it reaches back past the account's creation). */
  covers(account: ReconcileAccount): boolean {
    return account.createdAt.getTime() >= this.coveredSince;
  }

  /** Whether a trading signal is being executed (nothing is repaired while a fan-out runs). */
  executing(now: Date, staleMs: number): boolean {
    for (const c of this.cache.values()) {
      if (c.signal.reconcile || FINISHED.has(c.signal.status)) continue;
      if (now.getTime() - c.signal.createdAt < staleMs) return true;
    }
    return false;
  }

  /** A cycle's record, made by this process, so its rows join the view without a read. */
  addCycleSignal(record: RecentSignal): void {
    this.cache.set(record.id, { signal: compact(record, true), rows: [], final: true });
  }

  addRow(row: JournalEntry): void {
    const r = indexed(row);
    this.cache.get(r.signalId)?.rows.push(r);
    const list = this.byAccount.get(r.accountId);
    if (list) list.push(r);
    else this.byAccount.set(r.accountId, [r]);
    this.histories.delete(r.accountId);
  }

  /** Apply a state change this process made to a row. */
  update(
    row: Pick<JournalEntry, 'id' | 'signalId' | 'accountId'>,
    change: { state: JournalEntry['state']; brokerOrderIds?: readonly string[]; reason?: string | null },
  ): void {
    const apply = (list: IndexedRow[] | undefined) => {
      if (!list) return;
      const i = list.findIndex((r) => r.id === row.id);
      if (i < 0) return;
      const before = list[i]!;
      list[i] = {
        ...before,
        state: change.state,
        ...(change.brokerOrderIds ? { brokerOrderIds: change.brokerOrderIds } : {}),
        ...(change.reason !== undefined
          ? { notAtBroker: change.reason?.startsWith('not_at_broker') ?? false }
          : {}),
        updatedAt: Date.now(),
      };
    };
    apply(this.cache.get(row.signalId)?.rows);
    apply(this.byAccount.get(row.accountId));
    this.histories.delete(row.accountId);
  }

  signalOf(signalId: string): IndexedSignal | null {
    return this.cache.get(signalId)?.signal ?? null;
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
    this.cache.set(s.id, {
      signal: compact(s, s.dedupKey.startsWith(RECONCILE_DEDUP_PREFIX)),
      rows: rows.map(indexed),
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

  private build(rows: readonly IndexedRow[]): AccountHistory {
    const ours = new Set<string>();
    const protective = new Set<string>();
    const latestPosition = new Map<string, IndexedRow>();
    const lastEntry = new Map<string, IndexedRow>();
    let lastActivity = 0;
    let lastInFlight = 0;
    for (const row of rows) {
      if (!this.cache.get(row.signalId)?.signal.reconcile) {
        lastActivity = Math.max(lastActivity, row.createdAt);
        if (row.state === 'planned' || row.state === 'sending') {
          lastInFlight = Math.max(lastInFlight, row.updatedAt);
        }
      }
      row.brokerOrderIds.forEach((id, i) => {
        ours.add(id);
        // An entry's ids after the first are its bracket legs.
        if (row.leg === 'take_profit' || row.leg === 'stop_loss' || (row.leg === 'entry' && i > 0)) {
          protective.add(id);
        }
      });
      if (!effective(row)) continue;
      if (row.leg === 'entry' || row.leg === 'exit' || row.leg === 'liquidate') {
        const before = latestPosition.get(row.contract);
        if (!before || compareRows(before, row) < 0) latestPosition.set(row.contract, row);
        if (row.leg === 'entry') {
          const entry = lastEntry.get(row.contract);
          if (!entry || compareRows(entry, row) < 0) lastEntry.set(row.contract, row);
        }
      }
    }
    const open = new Set<string>();
    for (const [contract, row] of latestPosition) if (row.leg === 'entry') open.add(contract);
    return { ours, protective, open, lastEntry, lastActivity, lastInFlight };
  }
}

function compact(s: RecentSignal, reconcile: boolean): IndexedSignal {
  return { id: s.id, status: s.status, body: s.body, createdAt: s.createdAt.getTime(), reconcile };
}

/** State shared by the accounts of one cycle. */
interface Cycle {
  readonly number: number;
  readonly now: Date;
  /** The cycle's signal record, made on the first repair. */
  signalId: Promise<string> | null;
  /** Repairs journaled. */
  repairs: number;
  /** Per account, the next repair number (the `<n>` of the client order id). */
  readonly seq: Map<string, number>;
  /** What earlier cycles reported, per account (fingerprints). */
  readonly reported: Map<string, ReadonlySet<string>>;
  /** What this cycle found reportable, per account. */
  readonly seen: Map<string, Set<string>>;
  readonly tickSizes: Map<string, Promise<number | null>>;
}

/** One account being reconciled: its broker, its findings so far. */
interface Work {
  readonly cycle: Cycle;
  readonly account: ReconcileAccount;
  readonly broker: Broker;
  readonly ref: AccountRef;
  readonly findings: Finding[];
}

/** One repair, journaled before it is sent. */
interface Repair {
  readonly kind: FindingKind;
  readonly contract: string;
  /** The order acted on, for cancels and resizes. */
  readonly orderId?: string;
  readonly leg: OrderLeg;
  readonly plan: OrderPlan;
  /** What the finding says when the repair succeeded. */
  readonly done: FindingAction;
  readonly detail: string;
  readonly audit: Record<string, unknown>;
  readonly send: (clientOrderId: string) => Promise<BrokerResult<readonly string[]>>;
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
  private readonly repairRetryMs: number;
  private readonly defaultTicks: { readonly take_profit: number; readonly stop_loss: number };
  /** Per lane, where the next cycle starts, so a lane cut short by its budget gets round. */
  private readonly cursors = new Map<string, number>();
  /** When a repair (account, kind, contract, order) last failed, epoch ms. */
  private readonly failedRepairs = new Map<string, number>();
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
      options.lookbackSignals ?? 200,
      options.lookbackMs ?? 14 * 24 * 3_600_000,
    );
  }

  /** The last finished cycle's report, for the dashboard; null before the first. */
  lastReport(): ReconcileReport | null {
    return this.last;
  }

  /** Run one cycle over every enabled account. `signal` stops it between accounts. */
  async reconcile(signal?: AbortSignal): Promise<ReconcileReport> {
    const { stores, clock } = this.options;
    const started = performance.now();
    const now = clock.now();
    const cycle: Cycle = {
      number: ++this.cycles,
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
    const openByAccount = groupBy(open, (row) => row.accountId);
    // Disabled accounts are not checked, but what was sent for them is still settled.
    const walk = accounts.filter((a) => a.enabled || openByAccount.has(a.id));
    const lanes = groupBy(walk, (a) => `${a.broker}:${a.credentialId}`);

    const results: AccountReconciliation[] = [];
    await runPool(lanes, this.concurrency, async ([key, lane]) => {
      results.push(...(await this.walkLane(key, lane, openByAccount, cycle, signal)));
    });

    const signalId = cycle.signalId ? await cycle.signalId : null;
    if (signalId)
      await stores.signals.setStatus(signalId, 'done', { cycle: cycle.number, repairs: cycle.repairs });
    await this.saveReported(cycle, results);

    const count = (s: AccountReconciliation['status']) => results.filter((r) => r.status === s).length;
    const findings = results.flatMap((r) => r.findings);
    const repairs: ReadonlySet<FindingAction> = new Set(['cancelled', 'placed', 'modified', 'liquidated']);
    const report: ReconcileReport = {
      cycle: cycle.number,
      signalId,
      startedAt: now,
      finishedAt: clock.now(),
      durationMs: Math.round(performance.now() - started),
      accounts: walk.length,
      checked: results.length - count('deferred'),
      clean: count('clean'),
      busy: count('busy'),
      deferred: count('deferred'),
      failed: count('failed'),
      settled: findings.filter((f) => f.action === 'settled').length,
      repaired: findings.filter((f) => repairs.has(f.action)).length,
      newFindings: findings.filter((f) => f.new).length,
      aborted: signal?.aborted ?? false,
      results: results
        .filter((r) => r.status !== 'clean')
        .sort((a, b) => compareIds(a.accountId, b.accountId)),
    };
    this.last = report;
    return report;
  }

  /**
   * The accounts of one credential, from where the last cycle stopped, until the credential's
   * budget share is spent; the rest wait for the next cycle.
   */
  private async walkLane(
    key: string,
    lane: readonly ReconcileAccount[],
    openByAccount: ReadonlyMap<string, readonly JournalEntry[]>,
    cycle: Cycle,
    signal: AbortSignal | undefined,
  ): Promise<AccountReconciliation[]> {
    const start = (this.cursors.get(key) ?? 0) % lane.length;
    const ordered = [...lane.slice(start), ...lane.slice(0, start)];
    const rank = new Map(ordered.map((a, i) => [a, i]));
    const results: AccountReconciliation[] = [];
    let cutAt: number | null = null;
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
        // A bug or a storage failure on one account must not end the cycle for the others.
        this.options.log.error({ err: error, accountId: account.id }, 'reconciliation of an account failed');
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
    this.cursors.set(key, cutAt === null ? 0 : (start + cutAt) % lane.length);
    return results;
  }

  private async reconcileAccount(
    account: ReconcileAccount,
    openRows: readonly JournalEntry[],
    cycle: Cycle,
  ): Promise<AccountReconciliation> {
    const broker = this.options.brokers.get(account.broker);
    const unreadable = (detail: string) =>
      this.result(account, 'failed', [
        {
          kind: 'read_failed',
          action: 'failed',
          contract: null,
          detail,
          // Reported once while it lasts: an account that cannot be read is not news every cycle.
          new: this.remember(cycle, account.id, 'read_failed'),
        },
      ]);
    if (!broker) return unreadable(`no broker ${account.broker}`);
    const ref: AccountRef = { credentialId: account.credentialId, brokerAccountId: account.brokerAccountId };
    const [positionsRead, ordersRead] = await Promise.all([
      broker.positions(ref, BACKGROUND),
      broker.workingOrders(ref, BACKGROUND),
    ]);
    if (!positionsRead.ok) return unreadable(`${positionsRead.error.reason}: ${positionsRead.error.message}`);
    if (!ordersRead.ok) return unreadable(`${ordersRead.error.reason}: ${ordersRead.error.message}`);
    const work: Work = { cycle, account, broker, ref, findings: [] };
    const working = ordersRead.value.filter((o) => o.status === 'working' || o.status === 'pending');

    for (const row of openRows) {
      const finding = await this.settle(work, row, working, positionsRead.value);
      if (finding) work.findings.push(finding);
    }
    if (!account.enabled) return this.result(account, 'clean', work.findings);
    if (this.busy(account, cycle.now)) return this.result(account, 'busy', work.findings);

    // After settling: an entry found at the broker makes its position ours in this very cycle.
    const history = this.index.history(account.id);
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
    const unmanagedPositions: BrokerPosition[] = [];

    for (const contract of [...new Set([...positions.keys(), ...exits.map((o) => o.contract)])].sort()) {
      const position = positions.get(contract);
      const mine = exits.filter((o) => o.contract === contract);
      if (!position) {
        for (const o of mine) {
          await this.cancel(
            work,
            o,
            'orphan_exit',
            `${describeOrder(o)} was still working with no position left`,
          );
        }
        continue;
      }
      // A position is ours when our latest entry, exit or liquidation in its contract was an entry;
      // one with our own exits working on it is ours whatever the journal window still shows.
      if (!history.open.has(contract) && mine.length === 0) {
        unmanagedPositions.push(position);
        continue;
      }
      await this.protect(work, position, mine, history.lastEntry.get(contract) ?? null);
    }
    await this.unmanaged(work, unmanagedPositions, unmanagedOrders);
    return this.result(account, 'clean', work.findings);
  }

  /** One take-profit and one stop per position, each sized to it (and placed, under `require`). */
  private async protect(
    work: Work,
    position: BrokerPosition,
    mine: readonly BrokerOrder[],
    lastEntry: IndexedRow | null,
  ): Promise<void> {
    const exitSide: Side = position.netQuantity > 0 ? 'sell' : 'buy';
    const total = Math.abs(position.netQuantity);
    for (const o of mine.filter((x) => x.side !== exitSide)) {
      await this.cancel(
        work,
        o,
        'orphan_exit',
        `${describeOrder(o)} was on the wrong side of a ${signed(position)} position`,
      );
    }
    for (const [leg, type] of [
      ['take_profit', 'limit'],
      ['stop_loss', 'stop'],
    ] as const) {
      const list = mine.filter((o) => o.side === exitSide && o.type === type);
      if (list.length === 0) {
        if (work.account.bracketPolicy === 'require') await this.place(work, leg, position, lastEntry);
        continue;
      }
      const keep = list.find((o) => o.quantity === total) ?? list[0]!;
      for (const stray of list.filter((o) => o !== keep)) {
        await this.cancel(
          work,
          stray,
          'duplicate_exit',
          `a second ${legName(leg)} (${describeOrder(stray)}) for one position`,
        );
      }
      if (keep.quantity !== total) await this.resize(work, leg, keep, position);
    }
  }

  /**
   * Positions and orders we did not make: reported once, or flattened under the `flatten` policy,
   * but only when the journal view holds the account's whole history, so a position of ours older
   * than the view is never taken for someone else's and closed.
   */
  private async unmanaged(
    work: Work,
    positions: readonly BrokerPosition[],
    orders: readonly BrokerOrder[],
  ): Promise<void> {
    const { account, cycle, findings } = work;
    const complete = this.index.covers(account);
    const flatten = account.unmanagedPolicy === 'flatten' && complete;
    const origin = complete ? 'no signal of ours opened' : 'no signal of ours in the journal window opened';
    for (const position of positions) {
      if (flatten) {
        for (const o of orders.filter((x) => x.contract === position.contract)) {
          await this.cancel(
            work,
            o,
            'unmanaged_order',
            `${describeOrder(o)} was not placed by us (flatten policy)`,
          );
        }
        await this.liquidate(work, position);
        continue;
      }
      findings.push({
        kind: 'unmanaged_position',
        action: 'reported',
        contract: position.contract,
        detail: `a ${signed(position)} position ${origin}; left alone`,
        new: this.remember(cycle, account.id, `position:${position.contract}:${position.netQuantity}`),
      });
    }
    for (const o of orders) {
      if (flatten) {
        if (!positions.some((p) => p.contract === o.contract)) {
          await this.cancel(
            work,
            o,
            'unmanaged_order',
            `${describeOrder(o)} was not placed by us (flatten policy)`,
          );
        }
        continue;
      }
      findings.push({
        kind: 'unmanaged_order',
        action: 'reported',
        contract: o.contract,
        detail: `${describeOrder(o)} was not placed by us; left alone`,
        orderId: o.orderId,
        new: this.remember(
          cycle,
          account.id,
          `order:${o.orderId}:${o.quantity}:${o.price ?? o.stopPrice ?? ''}`,
        ),
      });
    }
  }

  /**
   * Settle one non-terminal journal row by looking it up at the broker; null while it may still be
   * in flight. A `planned` row is left to the run that journaled it, which sends it or closes it; it
   * is settled here only once its signal has finished (a run that stopped short, such as a resumed
   * entry whose lookup failed), when nothing in this process will send it any more.
   */
  private async settle(
    work: Work,
    row: JournalEntry,
    working: readonly BrokerOrder[],
    positions: readonly BrokerPosition[],
  ): Promise<Finding | null> {
    const { cycle, broker, ref } = work;
    const old = cycle.now.getTime() - row.updatedAt.getTime() >= this.graceMs;
    if (row.state === 'planned') {
      const status = this.index.signalOf(row.signalId)?.status;
      if (!old || status === undefined || !FINISHED.has(status)) return null;
    }
    if (row.state === 'sending' && !old) return null;
    const contract = row.plan.contract;
    const settled = async (
      kind: 'settled_found' | 'settled_missing',
      brokerOrderIds: readonly string[] | undefined,
      reason: string | null,
      detail: string,
    ): Promise<Finding> => {
      const change = { state: 'reconciled' as const, reason, ...(brokerOrderIds ? { brokerOrderIds } : {}) };
      await this.options.stores.journal.updateMany([{ id: row.id, ...change }]);
      this.index.update(row, change);
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

    if (row.leg === 'flatten') {
      // Not an order: what it stands for is the account ending flat in its scope.
      const scope = contract === '*' ? null : contract;
      const held = positions.filter((p) => p.netQuantity !== 0 && (scope === null || p.contract === scope));
      const where = scope ? ` in ${scope}` : '';
      if (held.length === 0) {
        return settled(
          'settled_found',
          undefined,
          null,
          `the account is flat${where}: its flatten took effect`,
        );
      }
      return settled(
        'settled_missing',
        undefined,
        `not_flat: the flatten did not finish; ${held.map(signed).join(', ')} still open`,
        `the flatten did not finish: ${held.map(signed).join(', ')} still open${where}`,
      );
    }
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
      const orderId = found.value.orderId;
      return settled(
        'settled_found',
        [orderId, ...row.brokerOrderIds.filter((id) => id !== orderId)],
        null,
        `the ${row.state} ${legName(row.leg)} ${row.clientOrderId} is at the broker as order ${orderId}`,
      );
    }
    if (!old) return null;
    return settled(
      'settled_missing',
      undefined,
      row.state === 'planned'
        ? `not_at_broker: no order with client order id ${row.clientOrderId}; its signal finished without sending it`
        : `not_at_broker: no order with client order id ${row.clientOrderId} ${Math.round(this.graceMs / 1000)} s after it was sent`,
      `the ${row.state} ${legName(row.leg)} ${row.clientOrderId} never reached the broker`,
    );
  }

  private cancel(work: Work, order: BrokerOrder, kind: FindingKind, detail: string): Promise<void> {
    return this.repair(work, {
      kind,
      contract: order.contract,
      orderId: order.orderId,
      leg: 'cancel',
      plan: { contract: order.contract, side: null, quantity: order.quantity, targetOrderId: order.orderId },
      done: 'cancelled',
      detail,
      audit: { orderId: order.orderId, detail },
      send: async () => {
        const c = await work.broker.cancelOrder({ account: work.ref, orderId: order.orderId }, BACKGROUND);
        return c.ok ? { ok: true, value: [order.orderId] } : c;
      },
    });
  }

  private async place(
    work: Work,
    leg: 'take_profit' | 'stop_loss',
    position: BrokerPosition,
    lastEntry: IndexedRow | null,
  ): Promise<void> {
    const kind: FindingKind = leg === 'take_profit' ? 'missing_take_profit' : 'missing_stop';
    const tickSize = await this.tickSize(work, position.contract);
    if (tickSize === null) {
      work.findings.push({
        kind,
        action: 'failed',
        contract: position.contract,
        detail: `no ${legName(leg)}, and ${position.contract} could not be resolved to price one`,
        new: this.remember(work.cycle, work.account.id, `failed:${kind}:${position.contract}:`),
      });
      return;
    }
    const { price, source } = this.levelFor(leg, lastEntry, position, tickSize);
    const side: Side = position.netQuantity > 0 ? 'sell' : 'buy';
    const quantity = Math.abs(position.netQuantity);
    const type = leg === 'take_profit' ? 'limit' : 'stop';
    const priceField = leg === 'take_profit' ? 'price' : 'stopPrice';
    const from = source === 'signal' ? 'from the last signal' : 'default distance';
    await this.repair(work, {
      kind,
      contract: position.contract,
      leg,
      plan: { contract: position.contract, side, quantity, orderType: type, [priceField]: price },
      done: 'placed',
      detail: `placed a missing ${legName(leg)} ${side} ${quantity} @ ${price} (${from})`,
      audit: { quantity, price, source },
      send: async (clientOrderId) => {
        const p = await work.broker.placeOrder(
          {
            account: work.ref,
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

  private resize(
    work: Work,
    leg: 'take_profit' | 'stop_loss',
    order: BrokerOrder,
    position: BrokerPosition,
  ): Promise<void> {
    const total = Math.abs(position.netQuantity);
    return this.repair(work, {
      kind: 'size_mismatch',
      contract: order.contract,
      orderId: order.orderId,
      leg,
      plan: {
        contract: order.contract,
        side: order.side,
        quantity: total,
        orderType: order.type === 'stop' ? 'stop' : 'limit',
        targetOrderId: order.orderId,
        ...(order.price !== null ? { price: order.price } : {}),
        ...(order.stopPrice !== null ? { stopPrice: order.stopPrice } : {}),
      },
      done: 'modified',
      detail: `${legName(leg)} ${order.orderId} was for ${order.quantity} of a ${signed(position)} position; now ${total}`,
      audit: { orderId: order.orderId, from: order.quantity, to: total },
      send: async (clientOrderId) => {
        const m = await work.broker.modifyOrder(
          { account: work.ref, orderId: order.orderId, clientOrderId, quantity: total },
          BACKGROUND,
        );
        return m.ok ? { ok: true, value: [order.orderId] } : m;
      },
    });
  }

  private liquidate(work: Work, position: BrokerPosition): Promise<void> {
    return this.repair(work, {
      kind: 'unmanaged_position',
      contract: position.contract,
      leg: 'liquidate',
      plan: { contract: position.contract, side: null, quantity: 0, orderType: 'market' },
      done: 'liquidated',
      detail: `a ${signed(position)} position no signal of ours opened; flattened (flatten policy)`,
      audit: { netQuantity: position.netQuantity },
      send: async (clientOrderId) => {
        const l = await work.broker.liquidatePosition(
          { account: work.ref, contract: position.contract, clientOrderId },
          BACKGROUND,
        );
        return l.ok ? { ok: true, value: l.value ? [l.value.orderId] : [] } : l;
      },
    });
  }

  /**
   * One repair: skipped while a fan-out is at work on the account (the next cycle looks again) or
   * while an earlier failure of the same repair waits out its retry time (reported once, not every
   * cycle); otherwise journaled, sent, recorded and audited.
   */
  private async repair(work: Work, r: Repair): Promise<void> {
    const { cycle, account, findings } = work;
    const key = `${account.id}:${r.kind}:${r.contract}:${r.orderId ?? ''}`;
    const fingerprint = `failed:${r.kind}:${r.contract}:${r.orderId ?? ''}`;
    const target = r.orderId ? { orderId: r.orderId } : {};
    const failedAt = this.failedRepairs.get(key);
    if (failedAt !== undefined && cycle.now.getTime() - failedAt < this.repairRetryMs) {
      findings.push({
        kind: r.kind,
        action: 'failed',
        contract: r.contract,
        detail: `${r.detail}: failed earlier, not retried yet`,
        ...target,
        new: this.remember(cycle, account.id, fingerprint),
      });
      return;
    }
    // A fan-out may have begun since the cycle started: look again right before changing anything.
    await this.index.refreshHead();
    if (this.busy(account, this.options.clock.now())) return;

    const { journal } = this.options.stores;
    const signalId = await this.cycleSignal(cycle);
    const seq = cycle.seq.get(account.id) ?? 0;
    cycle.seq.set(account.id, seq + 1);
    const clientOrderId = repairOrderId(signalId, account.id, r.leg, seq);
    const entry: NewJournalEntry = {
      signalId,
      accountId: account.id,
      clientOrderId,
      leg: r.leg,
      seq,
      state: 'planned',
      plan: r.plan,
    };
    const [row] = await journal.insertMany([entry]);
    if (!row) throw new Error('the journal returned no row for an insert');
    this.index.addRow(row);
    await journal.updateMany([{ id: row.id, state: 'sending' }]);
    cycle.repairs++;
    let result: BrokerResult<readonly string[]>;
    try {
      result = await r.send(clientOrderId);
    } catch (error) {
      // Whatever happened may have reached the broker: settled by lookup later, never resent blindly.
      result = {
        ok: false,
        error: { kind: 'outcome_unknown', reason: 'Internal', message: String(error), retryable: true },
      };
    }
    const details = { contract: r.contract, clientOrderId, ...r.audit };
    if (result.ok) {
      const change = { state: 'acked' as const, brokerOrderIds: [...result.value], reason: null };
      await journal.updateMany([{ id: row.id, ...change }]);
      this.index.update(row, change);
      this.failedRepairs.delete(key);
      await this.audit(account.id, `reconcile.${r.kind}.${r.done}`, {
        ...details,
        brokerOrderIds: result.value,
      });
      findings.push({
        kind: r.kind,
        action: r.done,
        contract: r.contract,
        detail: r.detail,
        ...target,
        ...(!r.orderId && result.value[0] ? { orderId: result.value[0] } : {}),
        clientOrderId,
        new: true,
      });
      return;
    }
    const error = result.error;
    const reason =
      error.kind === 'rejected' || error.kind === 'outcome_unknown'
        ? `${error.reason}: ${error.message}`
        : `${error.reason}: not sent: ${error.message}`;
    const state = error.kind === 'outcome_unknown' ? 'unknown' : 'rejected';
    await journal.updateMany([{ id: row.id, state, reason }]);
    this.index.update(row, { state, reason });
    this.failedRepairs.set(key, cycle.now.getTime());
    await this.audit(account.id, `reconcile.${r.kind}.failed`, { ...details, reason });
    findings.push({
      kind: r.kind,
      action: 'failed',
      contract: r.contract,
      detail: `${r.detail}: failed: ${reason}`,
      ...target,
      clientOrderId,
      new: this.remember(cycle, account.id, fingerprint),
    });
  }

  /** The cycle's signal record, made on the first repair. */
  private cycleSignal(cycle: Cycle): Promise<string> {
    if (!cycle.signalId) {
      const { signals } = this.options.stores;
      cycle.signalId = (async () => {
        const { signal } = await signals.insertIfNew({
          dedupKey: `${RECONCILE_DEDUP_PREFIX}${cycle.now.toISOString()}:${crypto.randomUUID()}`,
          source: 'command',
          principal: RECONCILER_PRINCIPAL,
          body: RECONCILE_BODY,
          status: 'executing',
        });
        this.index.addCycleSignal(signal);
        return signal.id;
      })();
    }
    return cycle.signalId;
  }

  private busy(account: ReconcileAccount, now: Date): boolean {
    const h = this.index.history(account.id);
    return (
      now.getTime() - h.lastActivity < this.quietMs ||
      now.getTime() - h.lastInFlight < this.graceMs ||
      this.index.executing(now, this.staleExecutingMs)
    );
  }

  private async withinBudget(account: ReconcileAccount): Promise<boolean> {
    const use = await this.options.budgetUsage?.(account.broker, account.credentialId);
    if (!use) return true;
    return use.minute < use.limits.minute * this.budgetShare && use.hour < use.limits.hour * this.budgetShare;
  }

  private tickSize(work: Work, contract: string): Promise<number | null> {
    const { cycle, account, broker } = work;
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

  /** A missing leg's price: the last signal's level for the contract, else the default distance from the average. */
  private levelFor(
    leg: 'take_profit' | 'stop_loss',
    entry: IndexedRow | null,
    position: BrokerPosition,
    tickSize: number,
  ): { price: number; source: 'signal' | 'default' } {
    let level: BracketLevel | null = (leg === 'take_profit' ? entry?.takeProfit : entry?.stopLoss) ?? null;
    if (!level && entry) {
      // An add (DCA) journals no levels; its signal carries them.
      const body = this.index.signalOf(entry.signalId)?.body;
      const spec = leg === 'take_profit' ? body?.takeProfit : body?.stopLoss;
      if (spec) level = bracketLevel(spec, tickSize, body?.referencePrice);
    }
    if (level?.kind === 'price') return { price: roundToTick(level.price, tickSize), source: 'signal' };
    const ticks = level?.kind === 'offset' ? level.ticks : this.defaultTicks[leg];
    const direction = (position.netQuantity > 0 ? 1 : -1) * (leg === 'take_profit' ? 1 : -1);
    return {
      price: roundToTick(position.averagePrice + direction * ticks * tickSize, tickSize),
      source: level ? 'signal' : 'default',
    };
  }

  private async audit(accountId: string, action: string, details: Record<string, unknown>): Promise<void> {
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

  /** Whether a reportable item is new for the account; it is remembered as seen this cycle. */
  private remember(cycle: Cycle, accountId: string, fingerprint: string): boolean {
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

  /** What was reported stays remembered while it lasts; accounts not looked at keep theirs. */
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
    await this.options.stores.settings?.set(
      REPORTED_KEY,
      Object.fromEntries([...next].map(([k, v]) => [k, [...v]])),
    );
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
      // Anything found makes a checked account one with drift.
      status: status === 'clean' && findings.length > 0 ? 'drift' : status,
      findings,
    };
  }
}

/** Decimal ids in numeric order. */
function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
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
