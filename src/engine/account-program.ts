/**
 * What one account does for one signal: an entry with brackets, an add to a position with its
 * protective orders resized (DCA), a reverse (close, then open), or a flatten. Every broker
 * mutation is journaled under a deterministic client order id before it is sent, so the same
 * program run again after a crash skips what already happened and sends only what did not.
 */
import type {
  AccountRef,
  Broker,
  BrokerOrder,
  BrokerPosition,
  BrokerResult,
  CallOptions,
  ContractInfo,
} from '../brokers/broker.js';
import type { BrokerError } from '../brokers/errors.js';
import type { JournalEntry, OrderLeg, OrderPlan } from '../domain/orders.js';
import { clientOrderId, placesOrder, TERMINAL_STATES } from '../domain/orders.js';
import { bracketLevel } from '../domain/sizing.js';
import { roundToTick } from '../domain/symbols.js';
import type { Account, Side, Signal } from '../domain/types.js';
import type { Logger } from '../log.js';
import type { JournalInserter, JournalWriter } from './journal-writer.js';
import type { AccountOutcome, AccountOutcomeKind } from './summary.js';

export interface AccountTask {
  readonly signalId: string;
  readonly signal: Signal;
  readonly account: Account;
  /** The contract this account trades for the signal; null for flatten all. */
  readonly contract: ContractInfo | null;
  /** Contracts after sizing (0 for flatten and close). */
  readonly quantity: number;
  /**
   * Journal rows already written for this account and signal, by client order id (the map may hold
   * other accounts' rows too; client order ids name their account). A promise, so the program's
   * first read at the broker overlaps the fan-out's journal write; nothing is sent before it
   * resolves.
   */
  readonly existing: Promise<ReadonlyMap<string, JournalEntry>>;
  /**
   * Run again after a restart: a row not yet settled may already have reached the broker, so it
   * is looked up before anything is sent under its client order id.
   */
  readonly resumed: boolean;
  readonly startedAt: number;
}

/** The fan-out's journal write failed: the program stops before sending anything. */
export class NotJournaled extends Error {
  constructor(cause: unknown) {
    super('the fan-out could not be journaled', { cause });
    this.name = 'NotJournaled';
  }
}

export interface ProgramDeps {
  readonly broker: Broker;
  readonly writer: JournalWriter;
  /** Rows journaled as the program goes, batched with other programs' rows. */
  readonly inserter: JournalInserter;
  readonly log: Logger;
  readonly now: () => number;
  /** Look-ups after an unknown outcome before leaving it to reconciliation. */
  readonly settleAttempts?: number;
  readonly settleDelayMs?: number;
}

type StepResult<T> =
  | { readonly ok: true; readonly value: T | null; readonly brokerOrderIds: readonly string[] }
  | { readonly ok: false; readonly outcome: 'rejected' | 'unknown'; readonly reason: string };

const ORDER: CallOptions = { priority: 'order' };
const QUERY: CallOptions = { priority: 'query' };

const opposite = (side: Side): Side => (side === 'buy' ? 'sell' : 'buy');

export class AccountProgram {
  private seq = 0;
  private entryStepped = false;
  /** A resumed run's lookup of its entry, made before the position checks. */
  private entryLookup: BrokerResult<BrokerOrder | null> | null = null;
  private readonly ref: AccountRef;
  private readonly ids: string[] = [];
  /** Rows of an earlier run this run has matched to one of its steps (resumed runs only). */
  private readonly taken = new Set<string>();

  constructor(
    private readonly task: AccountTask,
    private readonly deps: ProgramDeps,
  ) {
    this.ref = { credentialId: task.account.credentialId, brokerAccountId: task.account.brokerAccountId };
  }

  async run(): Promise<AccountOutcome> {
    let outcome: AccountOutcome;
    let rows: ReadonlyMap<string, JournalEntry>;
    try {
      const { action } = this.task.signal;
      outcome = action === 'buy' || action === 'sell' ? await this.entry(action) : await this.flatten();
      rows = await this.task.existing;
    } catch (error) {
      // Nothing was sent; the engine reports the failed write once, for the whole fan-out.
      if (error instanceof NotJournaled)
        return this.outcome('rejected', 0, 'journal: not written; nothing sent');
      // A bug or a storage failure: report it as unknown for this account, never as a rejection.
      this.deps.log.error({ err: error, accountId: this.task.account.id }, 'account program failed');
      return this.outcome('unknown', 0, `internal: ${(error as Error).message}`);
    }
    // A resumed run that got through settles what the earlier run left and it did not need.
    if (this.task.resumed && outcome.kind !== 'rejected' && outcome.kind !== 'unknown') {
      await this.settleUntaken(rows);
    }
    // The entry was journaled up front; a gate met in the lane (max position, a failed read) means it
    // was never sent: close its row with the reason.
    // A resumed run closes it only once a lookup showed the stopped run had not sent it.
    const entry = rows.get(this.idFor('entry', 0));
    const absent = this.entryLookup?.ok === true && this.entryLookup.value === null;
    if (entry?.state === 'planned' && !this.entryStepped && (!this.task.resumed || absent)) {
      const state = outcome.kind === 'skipped' ? 'skipped' : 'rejected';
      await this.deps.writer.update([{ id: entry.id, state, reason: outcome.reason ?? 'not sent' }]);
    }
    // A flatten or close was journaled up front as one row per account, open until the program has
    // been through the account: close it with how that went.
    const flatten = rows.get(this.idFor('flatten', 0));
    if (flatten && !TERMINAL_STATES.has(flatten.state)) {
      await this.deps.writer.update([{ id: flatten.id, ...flattenRowEnd(outcome) }]);
    }
    return outcome;
  }

  private async entry(side: Side): Promise<AccountOutcome> {
    const { task } = this;
    const contract = task.contract!;
    const positions = await this.deps.broker.positions(this.ref, QUERY);
    if (!positions.ok) return this.fromError(positions.error, 'positions');
    const rows = await task.existing;
    const current = positions.value.find((p) => p.contract === contract.name)?.netQuantity ?? 0;
    const signed = side === 'buy' ? task.quantity : -task.quantity;

    // The entry row decides: once it is acked (by an earlier run), the position we see includes it.
    const entryId = this.idFor('entry', 0);
    const entryRow = rows.get(entryId);
    let entryDone = isDone(entryRow);
    if (task.resumed && entryRow && !TERMINAL_STATES.has(entryRow.state)) {
      // The stopped run may have sent it, and then the position read above includes it: look it up
      // before anything depends on the position's size.
      const found = await this.deps.broker.findOrder(this.ref, entryId, QUERY);
      if (!found.ok) {
        // It may be at the broker: the row stays open for the next start to look up again.
        const reason = `${found.error.reason}: could not look the order up: ${found.error.message}`;
        return this.outcome('unknown', 0, reason);
      }
      entryDone = found.value !== null;
      // Nothing is sent before the entry's step, which uses this answer instead of asking again.
      this.entryLookup = found;
    }

    if (current !== 0 && Math.sign(current) !== Math.sign(signed) && !entryDone) {
      const closed = await this.closeContract(contract, 'exit');
      if (closed) return closed;
      return this.placeEntry(side, contract);
    }
    const max = task.account.maxPosition;
    if (max !== null && !entryDone && Math.abs(current + signed) > max) {
      return this.outcome('skipped', 0, `max_position: ${Math.abs(current + signed)} would exceed ${max}`);
    }
    if (current === 0 || (entryDone && Math.abs(current) <= task.quantity)) {
      return this.placeEntry(side, contract);
    }
    return this.addToPosition(
      side,
      contract,
      entryDone ? Math.abs(current) : Math.abs(current) + task.quantity,
    );
  }

  /** A fresh entry with its take-profit and stop in one broker call. */
  private async placeEntry(side: Side, contract: ContractInfo): Promise<AccountOutcome> {
    const { signal, quantity } = this.task;
    const tp = signal.takeProfit
      ? bracketLevel(signal.takeProfit, contract.tickSize, signal.referencePrice)
      : undefined;
    const sl = signal.stopLoss
      ? bracketLevel(signal.stopLoss, contract.tickSize, signal.referencePrice)
      : undefined;
    if (tp === null || sl === null)
      return this.outcome('skipped', 0, 'bracket: percent needs an alert price');
    const levels = alignBrackets(
      tp,
      sl,
      signal.entry.type === 'limit' ? signal.entry.price : undefined,
      side,
      contract,
    );
    if (!levels.ok) return this.outcome('skipped', 0, levels.reason);
    const plan: OrderPlan = {
      contract: contract.name,
      side,
      quantity,
      orderType: signal.entry.type,
      ...(signal.entry.type === 'limit' ? { price: signal.entry.price } : {}),
      ...(levels.tp ? { takeProfit: levels.tp } : {}),
      ...(levels.sl ? { stopLoss: levels.sl } : {}),
    };
    const request = {
      account: this.ref,
      contract: contract.name,
      side,
      quantity,
      type: signal.entry.type,
      ...(signal.entry.type === 'limit' ? { price: signal.entry.price } : {}),
    } as const;
    const withBrackets = levels.tp !== undefined || levels.sl !== undefined;
    const step = await this.step('entry', plan, async (cid) => {
      if (!withBrackets) {
        const r = await this.deps.broker.placeOrder({ ...request, clientOrderId: cid }, ORDER);
        return r.ok ? { ok: true, value: r.value, ids: [r.value.orderId] } : r;
      }
      const r = await this.deps.broker.placeBracket(
        {
          ...request,
          clientOrderId: cid,
          ...(levels.tp ? { takeProfit: levels.tp } : {}),
          ...(levels.sl ? { stopLoss: levels.sl } : {}),
        },
        ORDER,
      );
      if (!r.ok) return r;
      const ids = [r.value.entry.orderId, r.value.takeProfitOrderId, r.value.stopLossOrderId].filter(
        (x): x is string => x !== undefined,
      );
      return { ok: true, value: r.value.entry, ids };
    });
    if (!step.ok) return this.outcome(step.outcome, 0, step.reason);
    return this.outcome(entryKind(step.value), quantity, null);
  }

  /** DCA: add to the position, then leave one take-profit and at most one stop sized to the whole of it. */
  private async addToPosition(side: Side, contract: ContractInfo, expected: number): Promise<AccountOutcome> {
    const { signal, quantity } = this.task;
    const plan: OrderPlan = {
      contract: contract.name,
      side,
      quantity,
      orderType: signal.entry.type,
      ...(signal.entry.type === 'limit' ? { price: signal.entry.price } : {}),
    };
    const add = await this.step('entry', plan, async (cid) => {
      const r = await this.deps.broker.placeOrder(
        {
          account: this.ref,
          clientOrderId: cid,
          contract: contract.name,
          side,
          quantity,
          type: signal.entry.type,
          ...(signal.entry.type === 'limit' ? { price: signal.entry.price } : {}),
        },
        ORDER,
      );
      return r.ok ? { ok: true, value: r.value, ids: [r.value.orderId] } : r;
    });
    if (!add.ok) return this.outcome(add.outcome, 0, add.reason);
    if (signal.entry.type === 'limit' && add.value?.status !== 'filled')
      return this.outcome('working', quantity, null);
    // Venues acknowledge a market order before its fill: resize from the position once it shows the add.
    await this.positionReaches(contract, expected);
    const resized = await this.resizeProtection(side, contract);
    if (resized) return resized;
    return this.outcome('filled', quantity, null);
  }

  private async resizeProtection(side: Side, contract: ContractInfo): Promise<AccountOutcome | null> {
    const { signal } = this.task;
    const [positions, orders] = await Promise.all([
      this.deps.broker.positions(this.ref, QUERY),
      this.deps.broker.workingOrders(this.ref, QUERY),
    ]);
    if (!positions.ok) return this.fromError(positions.error, 'positions');
    if (!orders.ok) return this.fromError(orders.error, 'orders');
    const position = positions.value.find((p) => p.contract === contract.name);
    if (!position) return null;
    const total = Math.abs(position.netQuantity);
    const exitSide = opposite(side);
    const mine = orders.value.filter((o) => o.contract === contract.name && o.side === exitSide);
    const tps = mine.filter((o) => o.type === 'limit');
    const stops = mine.filter((o) => o.type === 'stop');
    const tpPrice = priceFrom(signal.takeProfit, position, contract, side, 'tp', signal.referencePrice);
    const slPrice = priceFrom(signal.stopLoss, position, contract, side, 'sl', signal.referencePrice);
    const tpFail = await this.keepOne(tps, total, tpPrice, 'take_profit', contract, exitSide, 'limit');
    if (tpFail) return tpFail;
    return this.keepOne(stops, total, slPrice, 'stop_loss', contract, exitSide, 'stop');
  }

  /** Wait (briefly, with backoff) until the venue shows the position at `expected` contracts. */
  private async positionReaches(contract: ContractInfo, expected: number): Promise<void> {
    for (let i = 0; i < 8; i++) {
      const r = await this.deps.broker.positions(this.ref, QUERY);
      if (!r.ok) return;
      const net = r.value.find((p) => p.contract === contract.name)?.netQuantity ?? 0;
      if (Math.abs(net) >= expected) return;
      await new Promise((resolve) => setTimeout(resolve, 25 * 2 ** i));
    }
  }

  /** Cancel strays first, then modify the one we keep (or place one when none exists and a level is known). */
  private async keepOne(
    orders: readonly BrokerOrder[],
    total: number,
    price: number | null,
    leg: 'take_profit' | 'stop_loss',
    contract: ContractInfo,
    exitSide: Side,
    type: 'limit' | 'stop',
  ): Promise<AccountOutcome | null> {
    const [keep, ...strays] = orders;
    for (const stray of strays) {
      const r = await this.cancel(stray, contract);
      if (!r.ok) return this.outcome(r.outcome, 0, r.reason);
    }
    const priceField = type === 'limit' ? 'price' : 'stopPrice';
    if (keep) {
      const currentPrice = type === 'limit' ? keep.price : keep.stopPrice;
      const newPrice = price ?? currentPrice;
      if (keep.quantity === total && newPrice === currentPrice) return null;
      const plan: OrderPlan = {
        contract: contract.name,
        side: exitSide,
        quantity: total,
        orderType: type,
        targetOrderId: keep.orderId,
        ...(newPrice !== null ? { [priceField]: newPrice } : {}),
      };
      const r = await this.step(leg, plan, async (cid) => {
        const m = await this.deps.broker.modifyOrder(
          {
            account: this.ref,
            orderId: keep.orderId,
            clientOrderId: cid,
            quantity: total,
            ...(newPrice !== null ? { [priceField]: newPrice } : {}),
          },
          ORDER,
        );
        return m.ok ? { ok: true, value: null, ids: [keep.orderId] } : m;
      });
      return r.ok ? null : this.outcome(r.outcome, 0, r.reason);
    }
    if (price === null) return null;
    const plan: OrderPlan = {
      contract: contract.name,
      side: exitSide,
      quantity: total,
      orderType: type,
      [priceField]: price,
    };
    const r = await this.step(leg, plan, async (cid) => {
      const p = await this.deps.broker.placeOrder(
        {
          account: this.ref,
          clientOrderId: cid,
          contract: contract.name,
          side: exitSide,
          quantity: total,
          type,
          [priceField]: price,
        },
        ORDER,
      );
      return p.ok ? { ok: true, value: p.value, ids: [p.value.orderId] } : p;
    });
    return r.ok ? null : this.outcome(r.outcome, 0, r.reason);
  }

  /** Flatten or close: cancel the working orders in scope, then liquidate each position in scope. */
  private async flatten(): Promise<AccountOutcome> {
    const scope = this.task.contract?.name ?? null;
    const [orders, positions] = await Promise.all([
      this.deps.broker.workingOrders(this.ref, QUERY),
      this.deps.broker.positions(this.ref, QUERY),
    ]);
    if (!orders.ok) return this.fromError(orders.error, 'orders');
    if (!positions.ok) return this.fromError(positions.error, 'positions');
    const inScope = (contract: string) => scope === null || contract === scope;
    for (const order of orders.value.filter((o) => inScope(o.contract))) {
      const r = await this.cancel(order, null);
      if (!r.ok) return this.outcome(r.outcome, 0, r.reason);
    }
    for (const position of positions.value.filter((p) => inScope(p.contract))) {
      const r = await this.liquidate(position.contract, 'liquidate');
      if (!r.ok) return this.outcome(r.outcome, 0, r.reason);
    }
    return this.outcome('flat', 0, null);
  }

  /** Cancel the contract's working orders, then close its position; returns an outcome only on failure. */
  private async closeContract(contract: ContractInfo, leg: 'exit'): Promise<AccountOutcome | null> {
    const orders = await this.deps.broker.workingOrders(this.ref, QUERY);
    if (!orders.ok) return this.fromError(orders.error, 'orders');
    for (const order of orders.value.filter((o) => o.contract === contract.name)) {
      const r = await this.cancel(order, contract);
      if (!r.ok) return this.outcome(r.outcome, 0, r.reason);
    }
    const r = await this.liquidate(contract.name, leg);
    return r.ok ? null : this.outcome(r.outcome, 0, r.reason);
  }

  private cancel(order: BrokerOrder, contract: ContractInfo | null): Promise<StepResult<null>> {
    const plan: OrderPlan = {
      contract: contract?.name ?? order.contract,
      side: null,
      quantity: order.quantity,
      targetOrderId: order.orderId,
    };
    return this.step('cancel', plan, async () => {
      const r = await this.deps.broker.cancelOrder({ account: this.ref, orderId: order.orderId }, ORDER);
      return r.ok ? { ok: true, value: null, ids: [order.orderId] } : r;
    });
  }

  private liquidate(contract: string, leg: 'exit' | 'liquidate'): Promise<StepResult<BrokerOrder>> {
    const plan: OrderPlan = { contract, side: null, quantity: 0, orderType: 'market' };
    return this.step(leg, plan, async (cid) => {
      const r = await this.deps.broker.liquidatePosition(
        { account: this.ref, contract, clientOrderId: cid },
        ORDER,
      );
      if (!r.ok) return r;
      return { ok: true, value: r.value, ids: r.value ? [r.value.orderId] : [] };
    });
  }

  /**
   * A resumed run finds the account as the earlier run left it, so some of that run's unsettled
   * steps are no longer needed (a cancel whose order is gone, a liquidation of a position already
   * closed): settle each by what the broker has. An order found is acked, and so is a cancel whose
   * order no longer works; anything else never reached the broker and is closed as not needed. A
   * lookup that fails leaves the row for the next start.
   */
  private async settleUntaken(rows: ReadonlyMap<string, JournalEntry>): Promise<void> {
    let working: readonly BrokerOrder[] | null = null;
    for (const row of rows.values()) {
      if (row.seq === 0 || this.taken.has(row.id) || TERMINAL_STATES.has(row.state)) continue;
      let gone: boolean;
      let orderId: string | undefined;
      if (placesOrder(row.leg)) {
        const found = await this.deps.broker.findOrder(this.ref, row.clientOrderId, QUERY);
        if (!found.ok) continue;
        orderId = found.value?.orderId;
        gone = orderId !== undefined;
      } else {
        if (!working) {
          const r = await this.deps.broker.workingOrders(this.ref, QUERY);
          if (!r.ok) continue;
          working = r.value;
        }
        gone = !working.some((o) => o.orderId === row.plan.targetOrderId);
      }
      await this.deps.writer.update([
        gone
          ? { id: row.id, state: 'acked', reason: null, ...(orderId ? { brokerOrderIds: [orderId] } : {}) }
          : {
              id: row.id,
              state: 'rejected',
              reason: 'not_at_broker: not sent before the restart; no longer needed',
            },
      ]);
    }
  }

  private idFor(leg: OrderLeg, seq: number): string {
    return clientOrderId(this.task.signalId, this.task.account.id, leg, seq);
  }

  /**
   * Journal, send, record. A row already acked by an earlier run is not sent again; a row left
   * non-terminal by a crash is looked up at the broker first.
   */
  private async step<T>(
    leg: OrderLeg,
    plan: OrderPlan,
    send: (
      cid: string,
    ) => Promise<{ ok: true; value: T | null; ids: string[] } | { ok: false; error: BrokerError }>,
  ): Promise<StepResult<T>> {
    if (leg === 'entry') this.entryStepped = true;
    const existing = await this.task.existing;
    let seq = 0;
    let row: JournalEntry | undefined;
    if (leg === 'entry') {
      row = existing.get(this.idFor(leg, 0));
    } else if (this.task.resumed) {
      // The rows are this account's alone: a step the earlier run journaled is found by what it acts
      // on; a new one is numbered past every earlier row, so it never takes an earlier step's id.
      row = earlierStep(existing, leg, plan, this.taken);
      if (row) this.taken.add(row.id);
      else {
        for (const r of existing.values()) if (r.seq > this.seq) this.seq = r.seq;
        seq = ++this.seq;
      }
    } else {
      seq = ++this.seq;
      row = existing.get(this.idFor(leg, seq));
    }
    const cid = row?.clientOrderId ?? this.idFor(leg, seq);
    const { inserter, writer, broker } = this.deps;
    if (row && isDone(row)) {
      this.ids.push(...row.brokerOrderIds);
      return { ok: true, value: null, brokerOrderIds: row.brokerOrderIds };
    }
    if (row && TERMINAL_STATES.has(row.state)) {
      return { ok: false, outcome: 'rejected', reason: row.reason ?? 'rejected' };
    }
    if (row && (this.task.resumed || row.state !== 'planned') && placesOrder(row.leg)) {
      // Left by an earlier run: it may have reached the broker (a row is not written again between
      // its journaling and its send), so only a lookup that gets through may lead to a send.
      const found = (leg === 'entry' && this.entryLookup) || (await broker.findOrder(this.ref, cid, QUERY));
      if (!found.ok) {
        const reason = `${found.error.reason}: could not look the order up: ${found.error.message}`;
        return { ok: false, outcome: 'unknown', reason };
      }
      if (found.value) {
        await writer.update([{ id: row.id, state: 'acked', brokerOrderIds: [found.value.orderId] }]);
        this.ids.push(found.value.orderId);
        return { ok: true, value: found.value as T, brokerOrderIds: [found.value.orderId] };
      }
    }
    if (!row) {
      row = await inserter.insert({
        signalId: this.task.signalId,
        accountId: this.task.account.id,
        clientOrderId: cid,
        leg,
        seq,
        state: 'planned',
        plan,
      });
    }
    const id = row!.id;
    // No write between the journal row and the send: recovery looks every unsettled row up.
    let result = await send(cid);
    if (!result.ok && result.error.kind === 'outcome_unknown' && placesOrder(leg)) {
      const settled = await this.settle(cid);
      if (settled.kind === 'found') {
        this.ids.push(settled.order.orderId);
        void writer.update([{ id, state: 'acked', brokerOrderIds: [settled.order.orderId], reason: null }]);
        return { ok: true, value: settled.order as T, brokerOrderIds: [settled.order.orderId] };
      }
      if (settled.kind === 'absent' && SETTLED_BY_ABSENCE.has(result.error.reason)) {
        // The venue answered (5xx, 429) or the connection closed before it could: a lookup that finds
        // nothing means the order was never placed, so sending it now (same client order id) is safe.
        this.deps.log.info({ clientOrderId: cid, reason: result.error.reason }, 'not placed; sending again');
        result = await send(cid);
      }
    }
    if (result.ok) {
      this.ids.push(...result.ids);
      void writer.update([{ id, state: 'acked', brokerOrderIds: result.ids, reason: null }]);
      return { ok: true, value: result.value, brokerOrderIds: result.ids };
    }
    const error = result.error;
    const reason = `${error.reason}: ${error.message}`;
    if (error.kind === 'outcome_unknown') {
      void writer.update([{ id, state: 'unknown', reason }]);
      return { ok: false, outcome: 'unknown', reason };
    }
    const notSent = error.kind === 'rejected' ? reason : `${error.reason}: not sent: ${error.message}`;
    void writer.update([{ id, state: 'rejected', reason: notSent }]);
    return { ok: false, outcome: 'rejected', reason: notSent };
  }

  /**
   * After an unknown outcome: look the client order id up. `found` settles it; `absent` is a lookup
   * that succeeded and found nothing; `failed` means no lookup got through.
   */
  private async settle(
    cid: string,
  ): Promise<{ kind: 'found'; order: BrokerOrder } | { kind: 'absent' } | { kind: 'failed' }> {
    const attempts = this.deps.settleAttempts ?? 3;
    const delay = this.deps.settleDelayMs ?? 250;
    let absent = false;
    for (let i = 0; i < attempts; i++) {
      await new Promise((r) => setTimeout(r, delay * (i + 1)));
      const found = await this.deps.broker.findOrder(this.ref, cid, QUERY);
      if (found.ok && found.value) return { kind: 'found', order: found.value };
      if (found.ok) absent = true;
    }
    return absent ? { kind: 'absent' } : { kind: 'failed' };
  }

  private fromError(error: BrokerError, what: string): AccountOutcome {
    // A failed read sent nothing: the account did not trade.
    return this.outcome('rejected', 0, `${error.reason}: could not read ${what}: ${error.message}`);
  }

  private outcome(kind: AccountOutcomeKind, quantity: number, reason: string | null): AccountOutcome {
    return {
      accountId: this.task.account.id,
      accountName: this.task.account.name,
      kind,
      quantity,
      contract: this.task.contract?.name ?? null,
      reason,
      brokerOrderIds: [...this.ids],
      elapsedMs: this.deps.now() - this.task.startedAt,
    };
  }
}

/**
 * Unknown outcomes that a lookup finding nothing settles as "never placed": the venue answered with
 * an error, or the connection closed. A timeout is not among them: the request may still be queued
 * at the venue, so it stays unknown until reconciliation.
 */
const SETTLED_BY_ABSENCE: ReadonlySet<string> = new Set(['Disconnected', 'ServerError', 'RateLimited']);

/**
 * How an account's flatten row ends: acked once the account is flat, otherwise with the reason. The
 * row stands for the whole flatten; the orders it took have rows of their own.
 */
function flattenRowEnd(outcome: AccountOutcome): {
  state: 'acked' | 'rejected' | 'skipped';
  reason: string | null;
} {
  if (outcome.kind === 'flat') return { state: 'acked', reason: null };
  if (outcome.kind === 'skipped') return { state: 'skipped', reason: outcome.reason };
  const reason = outcome.reason ?? 'not flat';
  // The order whose outcome is unknown has a row of its own, settled by reconciliation.
  return { state: 'rejected', reason: outcome.kind === 'unknown' ? `unknown: ${reason}` : reason };
}

/**
 * The row an earlier run of the program journaled for the same step: the same leg acting on the
 * same order (a cancel, a resize) or, for an order placed, on the same contract. Matched by what it
 * acts on, not by its place in the sequence: a resumed run sees the account as the earlier run left
 * it, so it may take fewer steps, or others, in another order.
 */
function earlierStep(
  rows: ReadonlyMap<string, JournalEntry>,
  leg: OrderLeg,
  plan: OrderPlan,
  taken: ReadonlySet<string>,
): JournalEntry | undefined {
  let found: JournalEntry | undefined;
  for (const row of rows.values()) {
    if (row.leg !== leg || row.seq === 0 || taken.has(row.id)) continue;
    const same =
      plan.targetOrderId !== undefined || row.plan.targetOrderId !== undefined
        ? row.plan.targetOrderId === plan.targetOrderId
        : row.plan.contract === plan.contract;
    if (same && (!found || row.seq > found.seq)) found = row;
  }
  return found;
}

function isDone(row: JournalEntry | undefined): boolean {
  return row !== undefined && (row.state === 'acked' || row.state === 'reconciled');
}

/**
 * An acknowledged market entry counts as filled (venues such as Tradovate acknowledge before the
 * fill arrives; reconciliation catches the rare market order that does not fill). A limit entry is
 * working until the venue says it filled.
 */
function entryKind(order: BrokerOrder | null): AccountOutcomeKind {
  if (!order || order.type === 'market') return 'filled';
  return order.status === 'filled' ? 'filled' : 'working';
}

type Level = { kind: 'offset'; ticks: number } | { kind: 'price'; price: number };

/**
 * Both legs of a bracket must be of one kind. Offsets are turned into prices from a limit entry's
 * price when the other leg is absolute; with a market entry, mixed kinds are refused.
 */
function alignBrackets(
  tp: Level | undefined,
  sl: Level | undefined,
  limitPrice: number | undefined,
  side: Side,
  contract: ContractInfo,
): { ok: true; tp?: Level; sl?: Level } | { ok: false; reason: string } {
  if (!tp || !sl || tp.kind === sl.kind) return { ok: true, ...(tp ? { tp } : {}), ...(sl ? { sl } : {}) };
  if (limitPrice === undefined) {
    return { ok: false, reason: 'bracket: mix of price and distance needs a limit entry' };
  }
  const dir = side === 'buy' ? 1 : -1;
  const toPrice = (l: Level, sign: number): Level =>
    l.kind === 'price'
      ? l
      : {
          kind: 'price',
          price: roundToTick(limitPrice + sign * dir * l.ticks * contract.tickSize, contract.tickSize),
        };
  return { ok: true, tp: toPrice(tp, 1), sl: toPrice(sl, -1) };
}

/** A protective order's price after an add: from the new average for distances, as given for prices. */
function priceFrom(
  spec: Signal['takeProfit'],
  position: BrokerPosition,
  contract: ContractInfo,
  side: Side,
  which: 'tp' | 'sl',
  referencePrice: number | undefined,
): number | null {
  if (!spec) return null;
  const level = bracketLevel(spec, contract.tickSize, referencePrice);
  if (!level) return null;
  if (level.kind === 'price') return level.price;
  const dir = (side === 'buy' ? 1 : -1) * (which === 'tp' ? 1 : -1);
  return roundToTick(position.averagePrice + dir * level.ticks * contract.tickSize, contract.tickSize);
}
