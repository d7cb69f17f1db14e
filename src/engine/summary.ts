/** Outcome aggregation: one account outcome per target account, folded into a chat-ready summary. */
import { type JournalEntry, TERMINAL_STATES } from '../domain/orders.js';
import type { SignalAction } from '../domain/types.js';

export type AccountOutcomeKind = 'filled' | 'working' | 'flat' | 'rejected' | 'skipped' | 'unknown';

export interface AccountOutcome {
  readonly accountId: string;
  readonly accountName: string;
  readonly kind: AccountOutcomeKind;
  /** Contracts ordered for this account (after sizing); 0 for skips and flatten. */
  readonly quantity: number;
  readonly contract: string | null;
  /** Stable code then text, for rejected, skipped and unknown. */
  readonly reason: string | null;
  readonly brokerOrderIds: readonly string[];
  /** Time from the start of the fan-out to this account's last broker answer. */
  readonly elapsedMs: number;
}

export interface FanoutProgress {
  readonly signalId: string;
  readonly done: number;
  readonly total: number;
  readonly elapsedMs: number;
}

export interface ReasonCount {
  readonly reason: string;
  readonly count: number;
}

export interface FanoutSummary {
  readonly signalId: string;
  readonly action: SignalAction;
  readonly symbol: string | null;
  /** Set when this delivery was a duplicate: the signal it points at. */
  readonly duplicateOf: string | null;
  readonly accounts: number;
  readonly filled: number;
  readonly working: number;
  readonly flat: number;
  readonly rejected: readonly ReasonCount[];
  readonly skipped: readonly ReasonCount[];
  readonly unknown: number;
  readonly durationMs: number;
  readonly slowest: readonly { readonly accountName: string; readonly elapsedMs: number }[];
  readonly outcomes: readonly AccountOutcome[];
}

/** The code of a reason: the part before the first colon (`InvalidPrice: below market` → `InvalidPrice`). */
export function reasonCode(reason: string | null): string {
  if (!reason) return 'unknown';
  const i = reason.indexOf(':');
  return (i < 0 ? reason : reason.slice(0, i)).trim();
}

function countBy(outcomes: readonly AccountOutcome[], kind: AccountOutcomeKind): ReasonCount[] {
  const counts = new Map<string, number>();
  for (const o of outcomes) {
    if (o.kind !== kind) continue;
    const code = reasonCode(o.reason);
    counts.set(code, (counts.get(code) ?? 0) + 1);
  }
  return [...counts].map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count);
}

export function summarize(
  base: { signalId: string; action: SignalAction; symbol: string | null; durationMs: number },
  outcomes: readonly AccountOutcome[],
): FanoutSummary {
  const n = (k: AccountOutcomeKind) => outcomes.reduce((acc, o) => acc + (o.kind === k ? 1 : 0), 0);
  const slowest = outcomes
    .filter((o) => o.kind !== 'skipped')
    .sort((a, b) => b.elapsedMs - a.elapsedMs)
    .slice(0, 3)
    .map((o) => ({ accountName: o.accountName, elapsedMs: o.elapsedMs }));
  return {
    ...base,
    duplicateOf: null,
    accounts: outcomes.length,
    filled: n('filled'),
    working: n('working'),
    flat: n('flat'),
    rejected: countBy(outcomes, 'rejected'),
    skipped: countBy(outcomes, 'skipped'),
    unknown: n('unknown'),
    slowest,
    outcomes,
  };
}

/**
 * An account's outcome as its journal rows tell it, for an account a fan-out had finished before a
 * restart (its outcome was in the memory of the process that stopped). The account's first row (its
 * entry, or its flatten) says how it went; a row not settled makes it unknown, and a later order
 * refused makes it rejected. Rows a resumed run closed as no longer needed say nothing.
 */
export function journaledOutcome(
  account: { readonly id: string; readonly name: string },
  rows: readonly JournalEntry[],
  entryType: 'market' | 'limit',
): AccountOutcome {
  const sorted = [...rows].sort((a, b) => a.seq - b.seq);
  const telling = sorted.filter((r) => !r.reason?.startsWith('not_at_broker'));
  const head = sorted.find((r) => r.seq === 0) ?? sorted[0];
  const open = telling.find((r) => !TERMINAL_STATES.has(r.state));
  const refused = telling.find((r) => r !== head && r.state === 'rejected');
  const entry = head?.leg === 'entry';
  let kind: AccountOutcomeKind;
  let reason: string | null = null;
  if (open) {
    kind = 'unknown';
    reason = open.reason ?? `${open.state}: not settled after the restart`;
  } else if (head?.state === 'skipped') {
    kind = 'skipped';
    reason = head.reason;
  } else if (head?.state === 'rejected') {
    // A flatten whose order had an unknown outcome was closed as `unknown: <reason>`.
    const unknown = head.reason?.startsWith('unknown: ') ?? false;
    kind = unknown ? 'unknown' : 'rejected';
    reason = unknown ? head.reason!.slice('unknown: '.length) : head.reason;
  } else if (refused) {
    kind = 'rejected';
    reason = refused.reason;
  } else {
    kind = entry ? (entryType === 'limit' ? 'working' : 'filled') : 'flat';
  }
  return {
    accountId: account.id,
    accountName: account.name,
    kind,
    quantity: entry && kind !== 'skipped' && kind !== 'rejected' ? head.plan.quantity : 0,
    contract: head?.plan.contract ?? null,
    reason,
    brokerOrderIds: sorted.flatMap((r) => r.brokerOrderIds),
    elapsedMs: 0,
  };
}
