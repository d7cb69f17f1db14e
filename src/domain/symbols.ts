/**
 * Futures products and symbol forms. A signal may name a product root (`MNQ`), a TradingView
 * continuous symbol (`MNQ1!`, `CME_MINI:MNQ1!`) or an exact contract (`MNQZ6`, `MNQZ2026`).
 */

export interface Product {
  readonly root: string;
  readonly description: string;
  /** Minimum price increment, in price points. */
  readonly tickSize: number;
  /** Currency value of one full price point, per contract. */
  readonly pointValue: number;
  /** Listed contract months as CME month codes, e.g. "HMUZ". */
  readonly months: string;
}

const p = (
  root: string,
  description: string,
  tickSize: number,
  pointValue: number,
  months = 'HMUZ',
): Product => ({
  root,
  description,
  tickSize,
  pointValue,
  months,
});

const ALL = 'FGHJKMNQUVXZ';

export const PRODUCTS: ReadonlyMap<string, Product> = new Map(
  [
    p('ES', 'E-mini S&P 500', 0.25, 50),
    p('MES', 'Micro E-mini S&P 500', 0.25, 5),
    p('NQ', 'E-mini Nasdaq-100', 0.25, 20),
    p('MNQ', 'Micro E-mini Nasdaq-100', 0.25, 2),
    p('YM', 'E-mini Dow', 1, 5),
    p('MYM', 'Micro E-mini Dow', 1, 0.5),
    p('RTY', 'E-mini Russell 2000', 0.1, 50),
    p('M2K', 'Micro E-mini Russell 2000', 0.1, 5),
    p('CL', 'Crude Oil', 0.01, 1000, ALL),
    p('MCL', 'Micro Crude Oil', 0.01, 100, ALL),
    p('GC', 'Gold', 0.1, 100, 'GJMQVZ'),
    p('MGC', 'Micro Gold', 0.1, 10, 'GJMQVZ'),
    p('SI', 'Silver', 0.005, 5000, 'HKNUZ'),
    p('6E', 'Euro FX', 0.00005, 125000),
    p('ZN', '10-Year T-Note', 0.015625, 1000),
    p('ZB', 'U.S. Treasury Bond', 0.03125, 1000),
  ].map((x) => [x.root, x]),
);

const MONTH_CODES = 'FGHJKMNQUVXZ';

export type SymbolForm =
  | { readonly kind: 'root'; readonly root: string }
  | { readonly kind: 'continuous'; readonly root: string }
  | { readonly kind: 'contract'; readonly root: string; readonly month: string; readonly year: number };

/**
 * Parse a symbol as typed into its product root and form. Returns null when the text is not a
 * symbol of a known product.
 */
export function parseSymbol(text: string): SymbolForm | null {
  let s = text.trim().toUpperCase();
  const colon = s.lastIndexOf(':');
  if (colon >= 0) s = s.slice(colon + 1);
  if (s.length === 0 || s.length > 12) return null;
  const continuous = /^([A-Z0-9]{1,4}?)[12]!$/.exec(s);
  if (continuous?.[1] && PRODUCTS.has(continuous[1])) return { kind: 'continuous', root: continuous[1] };
  if (PRODUCTS.has(s)) return { kind: 'root', root: s };
  const contract = /^([A-Z0-9]{1,4}?)([FGHJKMNQUVXZ])(\d{1,4})$/.exec(s);
  if (contract?.[1] && contract[2] && contract[3] && PRODUCTS.has(contract[1])) {
    const digits = contract[3];
    if (digits.length === 3) return null;
    return { kind: 'contract', root: contract[1], month: contract[2], year: Number(digits) };
  }
  return null;
}

/** The product root of a symbol, or null when unknown. */
export function symbolRoot(text: string): string | null {
  return parseSymbol(text)?.root ?? null;
}

/**
 * The front-month contract of a product at a date: the first listed month whose expiry (approximated
 * as the third Friday of the contract month; we roll a week earlier) is still ahead.
 */
export function frontMonth(
  root: string,
  at: Date,
): { name: string; month: string; year: number; expiry: Date } {
  const product = PRODUCTS.get(root);
  if (!product) throw new Error(`unknown product ${root}`);
  let year = at.getUTCFullYear();
  let monthIndex = at.getUTCMonth();
  for (let i = 0; i < 36; i++) {
    const code = MONTH_CODES[monthIndex]!;
    if (product.months.includes(code)) {
      const expiry = thirdFriday(year, monthIndex);
      const roll = new Date(expiry.getTime() - 7 * 86_400_000);
      if (at.getTime() < roll.getTime()) {
        return { name: `${root}${code}${year % 10}`, month: code, year, expiry };
      }
    }
    monthIndex++;
    if (monthIndex === 12) {
      monthIndex = 0;
      year++;
    }
  }
  throw new Error(`no listed month for ${root}`);
}

function thirdFriday(year: number, monthIndex: number): Date {
  const first = new Date(Date.UTC(year, monthIndex, 1));
  const offset = (5 - first.getUTCDay() + 7) % 7;
  return new Date(Date.UTC(year, monthIndex, 1 + offset + 14));
}

/** Round a price to the product's tick grid. */
export function roundToTick(price: number, tickSize: number): number {
  const ticks = Math.round(price / tickSize);
  return Number((ticks * tickSize).toFixed(decimals(tickSize)));
}

function decimals(tickSize: number): number {
  const s = tickSize.toString();
  const dot = s.indexOf('.');
  return dot < 0 ? 0 : Math.min(10, s.length - dot - 1);
}
