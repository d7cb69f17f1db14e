/**
 * The checks every signal passes, whichever parser produced it (chat grammar, TradingView JSON,
 * plain-text or key=value alerts). Parsers check the shape of what was typed; this checks that the
 * resulting instruction makes sense as a trade.
 */
import type { UsageError } from './commands.js';
import { err, ok, type Result } from './result.js';
import { PRODUCTS, parseSymbol } from './symbols.js';
import type { PriceSpec, Signal, TargetFilter } from './types.js';

/** The most contracts one signal may ask for, before per-account sizing multiplies it. */
export const MAX_SIGNAL_QUANTITY = 10_000;

/**
 * A points or ticks distance of at least this fraction of the entry price is almost certainly a price
 * level written without its `@` marker; placing it as a distance would send an absurd (or negative) level.
 */
const IMPLAUSIBLE_DISTANCE = 0.5;

const ACTIONS: ReadonlySet<string> = new Set(['buy', 'sell', 'flatten', 'close']);

const LABEL = { takeProfit: 'take-profit', stopLoss: 'stop-loss' } as const;

type Bracket = keyof typeof LABEL;

const fail = (message: string, code: UsageError['code'] = 'usage'): Result<never, UsageError> =>
  err({ code, message, usage: null });

const positiveFinite = (n: number): boolean => Number.isFinite(n) && n > 0;

/**
 * Check a signal before it reaches the engine: a known symbol, a whole quantity within
 * {@link MAX_SIGNAL_QUANTITY}, finite positive prices, sane brackets (a percent between 0 and 100,
 * whole ticks, absolute levels on the profitable / protective side of the limit or alert price), and
 * no entry fields on flatten and close. Returns the signal unchanged when it passes; the error's
 * `usage` is null because only the parser knows which usage line to show.
 */
export function validateSignal(signal: Signal): Result<Signal, UsageError> {
  const { action } = signal;
  if (!ACTIONS.has(action)) return fail(`unknown action ${String(action)}`);

  if (signal.symbol === null) {
    if (action !== 'flatten') return fail('missing symbol');
  } else if (parseSymbol(signal.symbol) === null) {
    return fail(`unknown symbol ${signal.symbol}`, 'unknown_symbol');
  }

  const ref = signal.referencePrice;
  if (ref !== undefined && !positiveFinite(ref)) {
    return fail(`reference price must be a positive number (got ${ref})`);
  }

  const target = checkTarget(signal.target);
  if (target) return fail(target);

  if (action === 'flatten' || action === 'close') {
    if (signal.quantity !== 0) return fail(`${action} takes no quantity (got ${signal.quantity})`);
    if (signal.entry.type !== 'market') return fail(`${action} takes no limit price`);
    if (signal.takeProfit || signal.stopLoss) return fail(`${action} takes no take-profit or stop-loss`);
    return ok(signal);
  }

  const qty = signal.quantity;
  if (!Number.isInteger(qty) || qty <= 0)
    return fail(`quantity must be a positive whole number (got ${qty})`);
  if (qty > MAX_SIGNAL_QUANTITY) {
    return fail(`quantity ${qty} is above the limit of ${MAX_SIGNAL_QUANTITY} contracts per signal`);
  }

  if (signal.entry.type === 'limit' && !positiveFinite(signal.entry.price)) {
    return fail(`limit price must be a positive number (got ${signal.entry.price})`);
  }

  for (const bracket of ['takeProfit', 'stopLoss'] as const) {
    const spec = signal[bracket];
    if (!spec) continue;
    const problem = checkSpec(spec, LABEL[bracket]);
    if (problem) return fail(problem);
  }

  const sides = checkSides(signal);
  return sides ? fail(sides) : ok(signal);
}

function checkTarget(target: TargetFilter): string | null {
  if (target.accounts) {
    if (target.accounts.length === 0) return 'account list is empty';
    if (target.accounts.some((a) => a.trim() === '')) return 'account names cannot be empty';
    if (target.all) return 'all accounts cannot be combined with account names';
  }
  if (target.group !== undefined && target.group.trim() === '') return 'group name cannot be empty';
  return null;
}

function checkSpec(spec: PriceSpec, label: string): string | null {
  const { kind, value } = spec;
  if (!Number.isFinite(value)) return `${label} must be a finite number (got ${value})`;
  if (value <= 0) return `${label} must be greater than 0 (got ${value})`;
  if (kind === 'ticks' && !Number.isInteger(value))
    return `${label} ticks must be a whole number (got ${value})`;
  if (kind === 'percent' && value >= 100) return `${label} percent must be between 0 and 100 (got ${value})`;
  return null;
}

/**
 * Absolute levels must sit on the right side of the price the entry is expected at: above it for a
 * buy's take-profit, below it for a buy's stop (mirrored for a sell). Without a limit or alert price
 * only the two levels can be compared with each other.
 */
function checkSides(signal: Signal): string | null {
  const buy = signal.action === 'buy';
  const base =
    signal.entry.type === 'limit'
      ? { price: signal.entry.price, label: 'the limit price' }
      : signal.referencePrice !== undefined
        ? { price: signal.referencePrice, label: 'the alert price' }
        : null;

  if (base) {
    for (const bracket of ['takeProfit', 'stopLoss'] as const) {
      const spec = signal[bracket];
      if (!spec) continue;
      const problem = checkAgainstBase(signal, bracket, spec, base);
      if (problem) return problem;
    }
  }

  const tp = signal.takeProfit;
  const sl = signal.stopLoss;
  if (tp?.kind === 'price' && sl?.kind === 'price') {
    const wrong = buy ? tp.value <= sl.value : tp.value >= sl.value;
    if (wrong) {
      return `take-profit ${tp.value} is ${relation(tp.value, sl.value)} the stop-loss ${sl.value} for a ${signal.action}`;
    }
  }
  return null;
}

function checkAgainstBase(
  signal: Signal,
  bracket: Bracket,
  spec: PriceSpec,
  base: { price: number; label: string },
): string | null {
  const label = LABEL[bracket];
  if (spec.kind === 'price') {
    // A buy profits above its entry and is protected below it; a sell the other way round.
    const wantAbove = (signal.action === 'buy') === (bracket === 'takeProfit');
    const wrong = wantAbove ? spec.value <= base.price : spec.value >= base.price;
    if (!wrong) return null;
    return `${label} ${spec.value} is ${relation(spec.value, base.price)} ${base.label} ${base.price} for a ${signal.action}`;
  }
  const distance =
    spec.kind === 'points' ? spec.value : spec.kind === 'ticks' ? ticksToPoints(signal, spec.value) : null;
  if (distance !== null && distance >= base.price * IMPLAUSIBLE_DISTANCE) {
    const hint = spec.kind === 'points' ? `; did you mean the price ${spec.value}?` : '';
    return `${label} of ${spec.value} ${spec.kind} from ${base.label} ${base.price} is implausible${hint}`;
  }
  return null;
}

function ticksToPoints(signal: Signal, ticks: number): number | null {
  const root = signal.symbol === null ? null : parseSymbol(signal.symbol)?.root;
  const product = root ? PRODUCTS.get(root) : undefined;
  return product ? ticks * product.tickSize : null;
}

function relation(a: number, b: number): string {
  if (a === b) return 'at';
  return a < b ? 'below' : 'above';
}
