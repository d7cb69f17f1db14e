/** Per-account sizing and the gates that decide whether an account takes a signal. Pure. */
import type { Account, PriceSpec, Signal, TradingWindow } from './types.js';

export type SizingResult =
  | { readonly ok: true; readonly quantity: number; readonly symbol: string | null }
  | { readonly ok: false; readonly reason: string };

/** Signal root → the account's root, through the account's symbol map (NQ → MNQ). */
export function mapSymbol(account: Pick<Account, 'symbolMap'>, root: string): string {
  return account.symbolMap[root] ?? account.symbolMap[root.toUpperCase()] ?? root;
}

/**
 * Quantity = signal quantity × multiplier, rounded down to whole contracts, capped at the account's
 * maximum. Zero after sizing is a skip with the reason, never an order of zero.
 */
export function sizeFor(
  account: Pick<Account, 'multiplier' | 'maxQuantity'>,
  signalQuantity: number,
): SizingResult {
  const raw = Math.floor(signalQuantity * account.multiplier + 1e-9);
  const capped = account.maxQuantity !== null ? Math.min(raw, account.maxQuantity) : raw;
  if (capped <= 0) {
    return { ok: false, reason: `size: ${signalQuantity} × ${account.multiplier} rounds to 0 contracts` };
  }
  return { ok: true, quantity: capped, symbol: null };
}

export function isEntry(signal: Pick<Signal, 'action'>): boolean {
  return signal.action === 'buy' || signal.action === 'sell';
}

/** Whether `at` falls inside the window (start inclusive, end exclusive; may wrap midnight). */
export function insideWindow(window: TradingWindow, at: Date): boolean {
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone: window.timeZone,
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(at);
  const hh = Number(parts.find((p) => p.type === 'hour')?.value ?? 0);
  const mm = Number(parts.find((p) => p.type === 'minute')?.value ?? 0);
  const now = hh * 60 + mm;
  const start = toMinutes(window.start);
  const end = toMinutes(window.end);
  return start <= end ? now >= start && now < end : now >= start || now < end;
}

function toMinutes(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return (h ?? 0) * 60 + (m ?? 0);
}

/** The gates checked before any broker call; the first that refuses gives the skip reason. */
export function gate(
  account: Account,
  signal: Signal,
  context: { readonly halted: boolean; readonly now: Date },
): string | null {
  if (!account.enabled) return 'disabled: account is disabled';
  if (!isEntry(signal)) return null; // exits are always allowed
  if (context.halted) return 'halted: trading is halted';
  if (account.tradingWindow && !insideWindow(account.tradingWindow, context.now)) {
    const w = account.tradingWindow;
    return `window: entries allowed ${w.start}-${w.end} ${w.timeZone}`;
  }
  return null;
}

/**
 * A price spec as a distance in ticks from the entry, or an absolute price. Percent needs the
 * reference price of the signal.
 */
export function bracketLevel(
  spec: PriceSpec,
  tickSize: number,
  referencePrice: number | undefined,
): { kind: 'offset'; ticks: number } | { kind: 'price'; price: number } | null {
  switch (spec.kind) {
    case 'price':
      return { kind: 'price', price: spec.value };
    case 'ticks':
      return { kind: 'offset', ticks: Math.max(1, Math.round(spec.value)) };
    case 'points':
      return { kind: 'offset', ticks: Math.max(1, Math.round(spec.value / tickSize)) };
    case 'percent':
      if (referencePrice === undefined) return null;
      return {
        kind: 'offset',
        ticks: Math.max(1, Math.round((referencePrice * spec.value) / 100 / tickSize)),
      };
  }
}
