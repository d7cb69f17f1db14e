/**
 * The execution engine: deduplicate a signal, size it for every target account, journal one row
 * per account order before anything is sent, then dispatch by credential lanes under a global
 * concurrency cap, and fold the outcomes into one summary.
 *
 * Pacing is the broker's business: each venue adapter holds the per-credential rate budget and
 * pooled connection, and a lane simply waits on it. The engine never sleeps to pace.
 */
import type { Broker, BrokerResult, ContractInfo } from '../brokers/broker.js';
import type { Clock } from '../domain/clock.js';
import type { JournalEntry } from '../domain/orders.js';
import { clientOrderId, placesOrder, TERMINAL_STATES } from '../domain/orders.js';
import { gate, isEntry, mapSymbol, sizeFor } from '../domain/sizing.js';
import { parseSymbol } from '../domain/symbols.js';
import { type Account, type BrokerName, SIGNAL_FRESH_MS, type SignalEnvelope } from '../domain/types.js';
import type { Logger } from '../log.js';
import { AccountProgram, type AccountTask, NotJournaled } from './account-program.js';
import { JournalInserter, JournalWriter } from './journal-writer.js';
import { groupBy, runPool } from './pool.js';
import type {
  HaltState,
  JournalStore,
  NewJournalEntry,
  SettingsStore,
  SignalHead,
  SignalRecord,
  SignalStore,
} from './stores.js';
import { HALT_KEY, RECONCILE_DEDUP_PREFIX } from './stores.js';
import {
  type AccountOutcome,
  type FanoutProgress,
  type FanoutSummary,
  journaledOutcome,
  summarize,
} from './summary.js';

export interface EngineOptions {
  readonly brokers: ReadonlyMap<BrokerName, Broker>;
  readonly signals: SignalStore;
  readonly journal: JournalStore;
  readonly settings: SettingsStore;
  readonly clock: Clock;
  readonly log: Logger;
  /** Accounts worked on at once across all lanes. */
  readonly concurrency?: number;
  /** Accounts of one credential worked on at once (the credential's socket multiplexes them). */
  readonly laneConcurrency?: number;
  /** Minimum time between progress reports. */
  readonly progressIntervalMs?: number;
  /**
   * How long a signal stays worth acting on (default {@link SIGNAL_FRESH_MS}): one sent longer ago
   * than this is not executed, and after a restart unsent orders of older signals expire.
   */
  readonly resumeWindowMs?: number;
  readonly settleDelayMs?: number;
}

export interface SubmitHooks {
  /** Throttled progress for long fan-outs. */
  readonly onProgress?: (progress: FanoutProgress) => void;
}

export interface SubmitResult {
  readonly summary: FanoutSummary;
  readonly duplicate: boolean;
  /**
   * Set when the signal was sent too long ago to act on (its age, ms): nothing was recorded or
   * sent, and the summary is empty.
   */
  readonly lateMs?: number;
}

export class Engine {
  private readonly writer: JournalWriter;
  private readonly inserter: JournalInserter;
  private readonly concurrency: number;
  private readonly laneConcurrency: number;
  private readonly progressIntervalMs: number;
  private readonly resumeWindowMs: number;
  /** One program per account at a time: a second signal for the same account waits for the first. */
  private readonly accountLocks = new Map<string, Promise<unknown>>();
  private readonly fanoutListeners = new Set<(summary: FanoutSummary, envelope: SignalEnvelope) => void>();

  constructor(private readonly options: EngineOptions) {
    this.writer = new JournalWriter({ store: options.journal });
    this.inserter = new JournalInserter({ store: options.journal });
    this.concurrency = options.concurrency ?? 64;
    this.laneConcurrency = options.laneConcurrency ?? 4;
    this.progressIntervalMs = options.progressIntervalMs ?? 1500;
    this.resumeWindowMs = options.resumeWindowMs ?? SIGNAL_FRESH_MS;
  }

  /** Be told of every finished fan-out (metrics, live dashboards). Returns the unsubscribe function. */
  onFanout(listener: (summary: FanoutSummary, envelope: SignalEnvelope) => void): () => void {
    this.fanoutListeners.add(listener);
    return () => this.fanoutListeners.delete(listener);
  }

  async halted(): Promise<HaltState> {
    return (
      (await this.options.settings.get<HaltState>(HALT_KEY)) ?? {
        halted: false,
        reason: null,
        by: null,
        at: null,
      }
    );
  }

  async setHalt(halted: boolean, by: string, reason: string | null): Promise<HaltState> {
    const state: HaltState = { halted, reason, by, at: this.options.clock.now().toISOString() };
    await this.options.settings.set(HALT_KEY, state);
    return state;
  }

  /**
   * Execute a signal on its target accounts. A second delivery of the same dedup key sends nothing
   * and returns the first delivery's summary, marked as a duplicate.
   */
  async submit(
    envelope: SignalEnvelope,
    targets: readonly Account[],
    hooks: SubmitHooks = {},
  ): Promise<SubmitResult> {
    const { signals, log, clock } = this.options;
    const started = performance.now();
    for (const key of envelope.priorDedupKeys ?? []) {
      const earlier = await signals.findByDedupKey(key);
      if (earlier) return this.duplicate(earlier, envelope);
    }
    const ageMs = envelope.sentAt ? clock.now().getTime() - envelope.sentAt.getTime() : 0;
    if (ageMs > this.resumeWindowMs) {
      // Held while the service was down: too old to act on, unless it was acted on before the stop
      // (then it is a repeat like any other).
      const earlier = await signals.findByDedupKey(envelope.dedupKey);
      if (earlier) return this.duplicate(earlier, envelope);
      log.warn({ dedupKey: envelope.dedupKey, ageMs }, 'signal too old to act on; nothing sent');
      return { summary: summarize(this.base('', envelope, 0), []), duplicate: false, lateMs: ageMs };
    }
    // The kill switch is read while the signal is recorded; it only matters for a new signal.
    const halting = this.halted();
    halting.catch(() => undefined);
    const { signal: record, created } = await signals.insertIfNew({
      dedupKey: envelope.dedupKey,
      source: envelope.source,
      principal: envelope.principal,
      body: envelope.signal,
      status: 'executing',
    });
    if (!created) return this.duplicate(record, envelope);
    const signalId = record.id;
    const halt = await halting;
    const now = clock.now();
    const startedAt = performance.now();

    // Plan: gates, symbol map and sizing per account; contracts resolved once per credential and root.
    const contracts = new ContractCache(this.options.brokers);
    const planned: { account: Account; quantity: number; symbol: string | null; skip: string | null }[] = [];
    for (const account of targets) {
      const refused = gate(account, envelope.signal, { halted: halt.halted, now });
      if (refused) {
        planned.push({ account, quantity: 0, symbol: null, skip: refused });
        continue;
      }
      const symbol = accountSymbol(account, envelope.signal.symbol);
      if (!isEntry(envelope.signal)) {
        planned.push({ account, quantity: 0, symbol, skip: null });
        continue;
      }
      const size = sizeFor(account, envelope.signal.quantity);
      planned.push(
        size.ok
          ? { account, quantity: size.quantity, symbol, skip: null }
          : { account, quantity: 0, symbol, skip: size.reason },
      );
    }

    // Resolve contracts (one call per credential and symbol), then write the journal in one batch.
    const tasks: {
      account: Account;
      quantity: number;
      contract: ContractInfo | null;
      skip: string | null;
      /** The contract could not be resolved: a failure to report, not a gate. */
      failed?: boolean;
    }[] = [];
    await runPool(planned, this.concurrency, async (p) => {
      if (p.skip || p.symbol === null) {
        tasks.push({ account: p.account, quantity: p.quantity, contract: null, skip: p.skip });
        return;
      }
      const resolved = await contracts.resolve(p.account, p.symbol);
      tasks.push(
        resolved.ok
          ? { account: p.account, quantity: p.quantity, contract: resolved.value, skip: null }
          : {
              account: p.account,
              quantity: 0,
              contract: null,
              skip: `${resolved.error.reason}: ${resolved.error.message}`,
              failed: true,
            },
      );
    });

    // Every target account is journaled up front, in one batch: an entry's row is its order; a
    // flatten's or a close's (leg `flatten`) stands for the account's whole flatten, whose orders the
    // program journals once it knows what is working. A restart finds every account a fan-out did
    // not finish.
    const entry = isEntry(envelope.signal);
    const leg = entry ? 'entry' : 'flatten';
    const upfront: NewJournalEntry[] = tasks.map((t) => ({
      signalId,
      accountId: t.account.id,
      clientOrderId: clientOrderId(signalId, t.account.id, leg, 0),
      leg,
      seq: 0,
      state: t.failed ? 'rejected' : t.skip ? 'skipped' : 'planned',
      plan: {
        contract: t.contract?.name ?? accountSymbol(t.account, envelope.signal.symbol) ?? '*',
        side: entry ? (envelope.signal.action as 'buy' | 'sell') : null,
        quantity: t.quantity,
      },
      reason: t.skip,
    }));
    // The programs start reading at the broker while the journal is written; none sends before it is.
    // A failed write is rethrown below (`await write`), after the programs waiting on it have stopped.
    const write = upfront.length > 0 ? this.options.journal.insertMany(upfront) : Promise.resolve([]);
    // One map for the whole fan-out: a program only asks for its own client order ids.
    const journaled = write.then(
      (written) => new Map<string, JournalEntry>(written.map((w) => [w.clientOrderId, w])),
      (error: unknown) => {
        throw new NotJournaled(error);
      },
    );
    journaled.catch(() => undefined);

    const outcomes: AccountOutcome[] = [];
    const runnable: AccountTask[] = [];
    for (const t of tasks) {
      if (t.skip) {
        outcomes.push({
          accountId: t.account.id,
          accountName: t.account.name,
          kind: t.failed ? 'rejected' : 'skipped',
          quantity: 0,
          contract: t.contract?.name ?? null,
          reason: t.skip,
          brokerOrderIds: [],
          elapsedMs: 0,
        });
        continue;
      }
      runnable.push({
        signalId,
        signal: envelope.signal,
        account: t.account,
        contract: t.contract,
        quantity: t.quantity,
        existing: journaled,
        resumed: false,
        startedAt,
      });
    }

    const progress = this.progressReporter(signalId, targets.length, startedAt, hooks);
    progress.report(outcomes.length);
    await this.dispatch(runnable, (o) => {
      outcomes.push(o);
      progress.report(outcomes.length);
    });
    await write;
    await this.writer.flush();

    const summary = summarize(this.base(signalId, envelope, performance.now() - started), outcomes);
    await signals.setStatus(signalId, 'done', summary);
    for (const listener of this.fanoutListeners) {
      try {
        listener(summary, envelope);
      } catch (error) {
        log.warn({ err: error }, 'a fan-out listener failed');
      }
    }
    log.info(
      {
        signalId,
        accounts: summary.accounts,
        filled: summary.filled,
        working: summary.working,
        flat: summary.flat,
        rejected: summary.rejected,
        skipped: summary.skipped,
        unknown: summary.unknown,
        durationMs: Math.round(summary.durationMs),
      },
      'fan-out finished',
    );
    return { summary, duplicate: false };
  }

  /** A repeated delivery: nothing is sent; the reply points at the first delivery and its outcome. */
  private duplicate(record: SignalRecord, envelope: SignalEnvelope): SubmitResult {
    this.options.log.info({ signalId: record.id, dedupKey: envelope.dedupKey }, 'duplicate signal ignored');
    // A signal that failed or was refused stored its reason, not a fan-out summary.
    const first = storedSummary(record.summary);
    const summary: FanoutSummary = first
      ? { ...first, duplicateOf: record.id }
      : { ...summarize(this.base(record.id, envelope, 0), []), duplicateOf: record.id };
    return { summary, duplicate: true };
  }

  /**
   * Settle what a previous process left unfinished. Rows in `planned`, `sending` or `unknown` are
   * looked up by client order id; the account programs of young signals are run again, which sends
   * only what never reached the broker; older unsent rows expire with a reason. Accounts are
   * settled side by side under the fan-out's concurrency cap, so a credential's look-ups share
   * requests as a fan-out's do, and recovering 10,000 accounts takes seconds, not an hour of
   * one-by-one round trips.
   */
  async recover(accountsById: ReadonlyMap<string, Account>): Promise<{ resumed: number; expired: number }> {
    const { journal, signals, log, clock } = this.options;
    await this.failInterrupted();
    const open = await journal.listNonTerminal();
    if (open.length === 0) {
      await this.finishUnsummarized(accountsById);
      return { resumed: 0, expired: 0 };
    }
    const bySignal = groupBy(open, (row) => row.signalId);
    let resumed = 0;
    let expired = 0;
    for (const [signalId, rows] of bySignal) {
      const record = await signals.get(signalId);
      if (!record) continue;
      const age = clock.now().getTime() - record.createdAt.getTime();
      if (age > this.resumeWindowMs) {
        // Too old to send now: settle what was sent, expire what was not.
        expired += await this.settleExpired(rows, accountsById);
        continue;
      }
      const byAccount = groupBy(await journal.listBySignal(signalId), (row) => row.accountId);
      const contracts = new ContractCache(this.options.brokers);
      const tasks: AccountTask[] = [];
      await runPool(new Set(rows.map((r) => r.accountId)), this.concurrency, async (accountId) => {
        const account = accountsById.get(accountId);
        if (!account) return;
        const symbol = accountSymbol(account, record.body.symbol);
        let contract: ContractInfo | null = null;
        if (symbol !== null) {
          const r = await contracts.resolve(account, symbol);
          if (!r.ok) return;
          contract = r.value;
        }
        const mine = byAccount.get(accountId) ?? [];
        const entryRow = mine.find((r) => r.leg === 'entry');
        tasks.push({
          signalId,
          signal: record.body,
          account,
          contract,
          quantity: entryRow?.plan.quantity ?? 0,
          existing: Promise.resolve(new Map(mine.map((r) => [r.clientOrderId, r]))),
          resumed: true,
          startedAt: performance.now(),
        });
      });
      const outcomes: AccountOutcome[] = [];
      await this.dispatch(tasks, (o) => outcomes.push(o));
      await this.writer.flush();
      resumed += tasks.length;
      if (tasks.length > 0) {
        await signals.setStatus(
          signalId,
          'done',
          summaryAfterStop(record, byAccount, accountsById, outcomes),
        );
      }
      log.info({ signalId, accounts: tasks.length }, 'recovered unfinished fan-out');
    }
    await this.finishUnsummarized(accountsById);
    return { resumed, expired };
  }

  /**
   * Signals whose every journal row is settled but whose summary a stopped process never wrote (it
   * stopped after the last account's answer): they are marked done with the summary their rows tell,
   * so a repeated delivery, the dashboard and the chat see how they ended.
   */
  private async finishUnsummarized(accountsById: ReadonlyMap<string, Account>): Promise<void> {
    const { journal, signals, log } = this.options;
    for (const record of await signals.recentHeads(500)) {
      // An executing signal has no summary yet: it is written with `done`. A reconciliation cycle's
      // record is the reconciler's own.
      if (record.status !== 'executing' || record.dedupKey.startsWith(RECONCILE_DEDUP_PREFIX)) continue;
      const rows = await journal.listBySignal(record.id);
      if (rows.length === 0 || rows.some((r) => !TERMINAL_STATES.has(r.state))) continue;
      const summary = summaryAfterStop(
        record,
        groupBy(rows, (r) => r.accountId),
        accountsById,
        [],
      );
      await signals.setStatus(record.id, 'done', summary);
      log.info(
        { signalId: record.id, accounts: summary.accounts },
        'finished a fan-out whose summary was never written',
      );
    }
  }

  /**
   * The unsettled rows of a signal too old to trade now: an order the broker has is reconciled; one
   * it has not is expired; when no look-up gets through, the row stays unknown for reconciliation
   * (a `planned` row may have been sent: nothing is written between its journaling and its send).
   * Returns how many expired.
   */
  private async settleExpired(
    rows: readonly JournalEntry[],
    accountsById: ReadonlyMap<string, Account>,
  ): Promise<number> {
    let expired = 0;
    await runPool(rows, this.concurrency, async (row) => {
      const account = accountsById.get(row.accountId);
      if (!account) return;
      const broker = this.options.brokers.get(account.broker)!;
      const found = !placesOrder(row.leg)
        ? null
        : await broker.findOrder(
            { credentialId: account.credentialId, brokerAccountId: account.brokerAccountId },
            row.clientOrderId,
            { priority: 'background' },
          );
      if (found?.ok && found.value) {
        await this.writer.update([
          { id: row.id, state: 'reconciled', brokerOrderIds: [found.value.orderId] },
        ]);
      } else if (found && !found.ok) {
        await this.writer.update([
          { id: row.id, state: 'unknown', reason: `${found.error.reason}: lookup failed after restart` },
        ]);
      } else {
        const reason =
          row.leg === 'flatten'
            ? 'expired: the flatten had not finished before the restart'
            : 'expired: not sent before the restart';
        await this.writer.update([{ id: row.id, state: 'rejected', reason }]);
        expired++;
      }
    });
    await this.writer.flush();
    return expired;
  }

  /**
   * Signals a previous process recorded but stopped before journaling any order (while resolving
   * contracts): nothing was sent for them. They are marked failed, so they do not look in progress.
   */
  private async failInterrupted(): Promise<void> {
    const { signals, journal, log, clock } = this.options;
    const now = clock.now().getTime();
    for (const record of await signals.recentHeads(500)) {
      if (record.status !== 'received' && record.status !== 'executing') continue;
      // A young one may belong to another instance sharing the database, still resolving contracts.
      if (now - record.createdAt.getTime() < 30_000) continue;
      if (await journal.hasEntries(record.id)) continue;
      await signals.setStatus(record.id, 'failed', {
        reason: 'interrupted: the service stopped before any order was sent; nothing was placed',
      });
      log.warn(
        { signalId: record.id },
        'a signal was interrupted before any order was sent; nothing was placed',
      );
    }
  }

  /** Lanes by credential; lanes run concurrently under the global cap. */
  private async dispatch(
    tasks: readonly AccountTask[],
    onOutcome: (o: AccountOutcome) => void,
  ): Promise<void> {
    const lanes = groupBy(tasks, (t) => `${t.account.broker}:${t.account.credentialId}`);
    const slots = { free: this.concurrency };
    const waiters: (() => void)[] = [];
    const acquire = async () => {
      while (slots.free === 0) await new Promise<void>((r) => waiters.push(r));
      slots.free--;
    };
    const release = () => {
      slots.free++;
      waiters.shift()?.();
    };
    const laneWidth = Math.min(this.laneConcurrency, this.concurrency);
    await runPool([...lanes.values()], this.concurrency, (lane) =>
      runPool(lane, laneWidth, async (task) => {
        await acquire();
        try {
          onOutcome(await this.runLocked(task));
        } finally {
          release();
        }
      }),
    );
  }

  private async runLocked(task: AccountTask): Promise<AccountOutcome> {
    const key = task.account.id;
    const previous = this.accountLocks.get(key) ?? Promise.resolve();
    const broker = this.options.brokers.get(task.account.broker);
    const run = previous.then(() => {
      if (!broker) throw new Error(`no broker ${task.account.broker}`);
      return new AccountProgram(task, {
        broker,
        writer: this.writer,
        inserter: this.inserter,
        log: this.options.log,
        now: () => performance.now(),
        ...(this.options.settleDelayMs !== undefined ? { settleDelayMs: this.options.settleDelayMs } : {}),
      }).run();
    });
    const settled = run.catch(() => undefined);
    this.accountLocks.set(key, settled);
    try {
      return await run;
    } finally {
      if (this.accountLocks.get(key) === settled) this.accountLocks.delete(key);
    }
  }

  private progressReporter(signalId: string, total: number, startedAt: number, hooks: SubmitHooks) {
    let last = 0;
    return {
      report: (done: number) => {
        if (!hooks.onProgress) return;
        const now = performance.now();
        if (done < total && now - last < this.progressIntervalMs) return;
        last = now;
        hooks.onProgress({ signalId, done, total, elapsedMs: now - startedAt });
      },
    };
  }

  private base(signalId: string, envelope: SignalEnvelope, durationMs: number) {
    return { signalId, action: envelope.signal.action, symbol: envelope.signal.symbol, durationMs };
  }
}

/**
 * A signal's summary after a stop: the outcomes of the accounts run again, and for every other
 * account of its journal the outcome in the summary it has (a fan-out that finished, leaving one
 * unknown) or, when the stop came first, the outcome its rows tell.
 */
function summaryAfterStop(
  record: SignalHead & { readonly summary?: unknown },
  rowsByAccount: ReadonlyMap<string, readonly JournalEntry[]>,
  accountsById: ReadonlyMap<string, Account>,
  rerun: readonly AccountOutcome[],
): FanoutSummary {
  const stored = storedSummary(record.summary);
  const before = new Map(stored?.outcomes.map((o) => [o.accountId, o]));
  const seen = new Set(rerun.map((o) => o.accountId));
  const outcomes = [...rerun];
  for (const [accountId, mine] of rowsByAccount) {
    if (seen.has(accountId)) continue;
    const account = accountsById.get(accountId) ?? { id: accountId, name: accountId };
    outcomes.push(before.get(accountId) ?? journaledOutcome(account, mine, record.body.entry.type));
  }
  const { action, symbol } = record.body;
  return summarize({ signalId: record.id, action, symbol, durationMs: stored?.durationMs ?? 0 }, outcomes);
}

/** The fan-out summary a signal record holds; null when it holds none (or only a failure's reason). */
function storedSummary(summary: unknown): FanoutSummary | null {
  const s = summary as FanoutSummary | null;
  return s && Array.isArray(s.outcomes) ? s : null;
}

/** The symbol an account trades for a signal symbol: its symbol map applied to the product root. */
function accountSymbol(account: Account, symbol: string | null): string | null {
  if (symbol === null) return null;
  const form = parseSymbol(symbol);
  if (!form) return symbol;
  const mapped = mapSymbol(account, form.root);
  if (mapped === form.root) return symbol;
  const upper = symbol.toUpperCase();
  const at = upper.lastIndexOf(form.root);
  return at < 0 ? mapped : mapped + upper.slice(at + form.root.length);
}

class ContractCache {
  private readonly cache = new Map<string, Promise<BrokerResult<ContractInfo>>>();
  constructor(private readonly brokers: ReadonlyMap<BrokerName, Broker>) {}

  resolve(account: Account, symbol: string): Promise<BrokerResult<ContractInfo>> {
    const key = `${account.broker}:${account.credentialId}:${symbol}`;
    let hit = this.cache.get(key);
    if (!hit) {
      const broker = this.brokers.get(account.broker);
      if (!broker) throw new Error(`no broker ${account.broker}`);
      hit = broker.resolveContract(account.credentialId, symbol, { priority: 'order' });
      this.cache.set(key, hit);
    }
    return hit;
  }
}
