/**
 * Alert parsers: what TradingView (directly or in TradersPost / CrossTrade formats) and signal
 * providers post, turned into a {@link Signal}. Every parser ends in {@link validateSignal}, so an
 * alert and the same trade typed as a command are held to the same rules.
 *
 * One rule decides what a bare take-profit or stop-loss number means in plain-text and key=value
 * alerts, because alert templates mix both styles (`TP {{plot_0}}` is a level, `tp=20` a distance):
 * a bare number within 50% of the alert's price is an absolute price level; any other bare number,
 * and every bare number in an alert without a price, is points from the entry. Explicit forms always
 * win: `80t` ticks, `@21520.25` a price, `0.5%` percent, `20pts` points.
 */
import type { UsageError } from './commands.js';
import {
  parseCommand,
  parseDecimal,
  parsePriceSpec,
  parseQuantity,
  parseSymbolToken,
  parseTarget,
} from './grammar.js';
import { err, ok, type Result } from './result.js';
import { parseSymbol } from './symbols.js';
import type { EntrySpec, PriceSpec, Signal, SignalAction, TargetFilter } from './types.js';
import { validateSignal } from './validate.js';

/** The shape each alert format expects, shown with its errors. */
export const ALERT_USAGE = {
  json: 'JSON: {"ticker":"MNQ1!","action":"buy|sell|add|exit","sentiment":"bullish|bearish|flat","quantity":1,"orderType":"market|limit","limitPrice":21500,"takeProfit":{"limitPrice|amount|percent":20},"stopLoss":{"stopPrice|amount|percent":10}}',
  plain:
    'BUY|SELL SYMBOL [QTY] [@ PRICE] [LIMIT [PRICE]] [TP X] [SL X] | FLATTEN [SYMBOL|ALL] | CLOSE SYMBOL',
  keyValue: 'action=buy; symbol=MNQ1!; qty=2; tp=20; sl=10; price=21500; type=limit;',
  any: 'a TradingView JSON alert, key=value; pairs, a line like BUY MNQ 2 TP 20 SL 10, or a /buy command',
} as const;

/** Within this fraction of the alert price a bare TP/SL number is a price level (see the module notes). */
const LEVEL_BAND = 0.5;

type Fail = (message: string, code?: UsageError['code']) => Result<never, UsageError>;

const failWith =
  (usage: string): Fail =>
  (message, code = 'usage') =>
    err({ code, message, usage });

/** Give a helper's error the usage line of the format being parsed. */
function withUsage<T>(result: Result<T, UsageError>, usage: string): Result<T, UsageError> {
  return result.ok ? result : err({ ...result.error, usage: result.error.usage ?? usage });
}

function finish(signal: Signal, usage: string): Result<Signal, UsageError> {
  return withUsage(validateSignal(signal), usage);
}

/** A bare number near the reference price is a level; everything else follows the chat grammar. */
function parseAlertLevel(
  text: string,
  field: 'tp' | 'sl',
  reference: number | undefined,
): Result<PriceSpec, UsageError> {
  const spec = parsePriceSpec(text, field);
  if (!spec.ok || spec.value.kind !== 'points' || reference === undefined) return spec;
  const bare = parseDecimal(text);
  if (bare !== null && Math.abs(bare - reference) <= reference * LEVEL_BAND)
    return ok({ kind: 'price', value: bare });
  return spec;
}

// ---------------------------------------------------------------------------------------------------
// TradingView JSON (TradersPost shape)

type Fields = ReadonlyMap<string, unknown>;

/** Object keys lowercased, so `takeProfit`, `TakeProfit` and `takeprofit` all read the same. */
function lowerKeys(value: unknown): Fields | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const out = new Map<string, unknown>();
  for (const [k, v] of Object.entries(value)) if (!out.has(k.toLowerCase())) out.set(k.toLowerCase(), v);
  return out;
}

const absent = (v: unknown): boolean => v === undefined || v === null || v === '';

const show = (v: unknown): string => (typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v)));

function readNumber(v: unknown, name: string, fail: Fail): Result<number | undefined, UsageError> {
  if (absent(v)) return ok(undefined);
  const n = typeof v === 'number' ? v : typeof v === 'string' ? parseDecimal(v) : null;
  if (n === null || !Number.isFinite(n)) return fail(`${name} must be a number (got ${show(v)})`);
  return ok(n);
}

function readText(v: unknown, name: string, fail: Fail): Result<string | undefined, UsageError> {
  if (absent(v)) return ok(undefined);
  if (typeof v !== 'string') return fail(`${name} must be text (got ${show(v)})`);
  const s = v.trim();
  return ok(s === '' ? undefined : s);
}

function readTarget(fields: Fields, fail: Fail, usage: string): Result<TargetFilter, UsageError> {
  let account = fields.get('account') ?? fields.get('accounts');
  if (Array.isArray(account)) {
    if (!account.every((a) => typeof a === 'string')) return fail(`account must be text or a list of text`);
    account = account.join(',');
  }
  const acc = readText(account, 'account', fail);
  if (!acc.ok) return acc;
  const group = readText(fields.get('group'), 'group', fail);
  if (!group.ok) return group;
  return withUsage(parseTarget(acc.value, group.value), usage);
}

type Sentiment = 'bullish' | 'bearish' | 'flat';
const SENTIMENTS: Readonly<Record<string, Sentiment>> = {
  bullish: 'bullish',
  long: 'bullish',
  bearish: 'bearish',
  short: 'bearish',
  flat: 'flat',
};

/**
 * Parse a TradingView alert body in the TradersPost shape: `ticker` (or `symbol`), `action`
 * (buy | sell | add | exit | cancel, any case), `sentiment` (bullish | bearish | flat), `quantity`
 * (number or numeric string, default 1), `orderType` (market | limit) with `limitPrice` or `price`,
 * `price` (the alert price), `takeProfit { limitPrice | amount | percent }`,
 * `stopLoss { stopPrice | amount | percent }`, and optional `account` / `group`.
 *
 * `exit` closes the ticker's position (flattens everything without a ticker); buy or sell with
 * sentiment flat is an exit too. `add` buys or sells by sentiment. `cancel` and partial exits (sell
 * while staying bullish) have no Signal equivalent and are refused rather than approximated. Unknown
 * fields are ignored: TradingView templates carry extras such as `time` and `interval`.
 */
export function parseTradingViewJson(body: unknown): Result<Signal, UsageError> {
  const usage = ALERT_USAGE.json;
  const fail = failWith(usage);
  const fields = lowerKeys(body);
  if (!fields) return fail('alert must be a JSON object');

  const actionText = readText(fields.get('action'), 'action', fail);
  if (!actionText.ok) return actionText;
  if (actionText.value === undefined) return fail('missing action');
  const actionWord = actionText.value.toLowerCase();

  const sentimentText = readText(fields.get('sentiment'), 'sentiment', fail);
  if (!sentimentText.ok) return sentimentText;
  let sentiment: Sentiment | undefined;
  if (sentimentText.value !== undefined) {
    sentiment = SENTIMENTS[sentimentText.value.toLowerCase()];
    if (!sentiment)
      return fail(`unknown sentiment ${sentimentText.value} (expected bullish, bearish or flat)`);
  }

  const tickerText = readText(fields.get('ticker') ?? fields.get('symbol'), 'ticker', fail);
  if (!tickerText.ok) return tickerText;
  const ticker = tickerText.value;

  let action: SignalAction;
  switch (actionWord) {
    case 'buy':
    case 'sell':
      if (sentiment === 'flat') action = 'close';
      else if (sentiment === (actionWord === 'buy' ? 'bearish' : 'bullish')) {
        return fail(`action ${actionWord} with sentiment ${sentiment} (a partial exit) is not supported`);
      } else action = actionWord;
      break;
    case 'add':
      if (sentiment === 'bullish') action = 'buy';
      else if (sentiment === 'bearish') action = 'sell';
      else return fail('action add needs sentiment bullish or bearish');
      break;
    case 'exit':
      action = ticker === undefined ? 'flatten' : 'close';
      break;
    case 'cancel':
      return fail(
        'action cancel is not supported: there is no cancel-only signal; use exit to close the position',
      );
    default:
      return fail(`unknown action ${actionText.value} (expected buy, sell, add or exit)`);
  }

  if (ticker === undefined && action !== 'flatten') return fail('missing ticker');
  let symbol: string | null = null;
  if (ticker !== undefined) {
    const parsed = withUsage(parseSymbolToken(ticker), usage);
    if (!parsed.ok) return parsed;
    symbol = parsed.value;
  }

  const target = readTarget(fields, fail, usage);
  if (!target.ok) return target;
  const price = readNumber(fields.get('price'), 'price', fail);
  if (!price.ok) return price;

  if (action === 'close' || action === 'flatten') {
    // Exit alerts from shared templates often still carry quantity and brackets; they mean nothing here.
    return finish(
      {
        action,
        symbol,
        quantity: 0,
        entry: { type: 'market' },
        ...(price.value !== undefined ? { referencePrice: price.value } : {}),
        target: target.value,
      },
      usage,
    );
  }

  const quantityType = readText(fields.get('quantitytype'), 'quantityType', fail);
  if (!quantityType.ok) return quantityType;
  if (quantityType.value !== undefined && quantityType.value.toLowerCase() !== 'fixed_quantity') {
    return fail(`quantityType ${quantityType.value} is not supported (only fixed_quantity)`);
  }
  const rawQty = fields.get('quantity');
  let quantity = 1;
  if (!absent(rawQty)) {
    if (typeof rawQty !== 'number' && typeof rawQty !== 'string') {
      return fail(`quantity must be a positive whole number (got ${show(rawQty)})`);
    }
    const parsed = withUsage(parseQuantity(String(rawQty)), usage);
    if (!parsed.ok) return parsed;
    quantity = parsed.value;
  }

  const orderType = readText(fields.get('ordertype'), 'orderType', fail);
  if (!orderType.ok) return orderType;
  const type = orderType.value?.toLowerCase() ?? 'market';
  if (type !== 'market' && type !== 'limit') {
    return fail(`orderType ${orderType.value} is not supported (expected market or limit)`);
  }
  const limitPrice = readNumber(fields.get('limitprice'), 'limitPrice', fail);
  if (!limitPrice.ok) return limitPrice;
  let entry: EntrySpec = { type: 'market' };
  if (type === 'limit') {
    const at = limitPrice.value ?? price.value;
    if (at === undefined) return fail('orderType limit needs limitPrice or price');
    entry = { type: 'limit', price: at };
  }
  const reference = price.value ?? limitPrice.value;

  const takeProfit = readBracket(fields.get('takeprofit'), 'takeProfit', 'limitPrice', fail);
  if (!takeProfit.ok) return takeProfit;
  const stopLoss = readBracket(fields.get('stoploss'), 'stopLoss', 'stopPrice', fail);
  if (!stopLoss.ok) return stopLoss;

  return finish(
    {
      action,
      symbol,
      quantity,
      entry,
      ...(takeProfit.value ? { takeProfit: takeProfit.value } : {}),
      ...(stopLoss.value ? { stopLoss: stopLoss.value } : {}),
      ...(reference !== undefined ? { referencePrice: reference } : {}),
      target: target.value,
    },
    usage,
  );
}

/** `{ limitPrice | stopPrice }` is an absolute level, `amount` points from the entry, `percent` percent. */
function readBracket(
  value: unknown,
  name: 'takeProfit' | 'stopLoss',
  priceKey: 'limitPrice' | 'stopPrice',
  fail: Fail,
): Result<PriceSpec | undefined, UsageError> {
  if (absent(value)) return ok(undefined);
  const expected = `${name}: expected ${priceKey}, amount or percent`;
  const fields = lowerKeys(value);
  if (!fields) return fail(`${expected} (got ${show(value)})`);
  if (String(fields.get('type') ?? '').toLowerCase() === 'trailing_stop') {
    return fail(`${name}: trailing stops are not supported`);
  }
  const kinds = [
    [priceKey, 'price'],
    ['amount', 'points'],
    ['percent', 'percent'],
  ] as const;
  const given = kinds.filter(([key]) => !absent(fields.get(key.toLowerCase())));
  if (given.length === 0) return fail(expected);
  if (given.length > 1) return fail(`${name}: give only one of ${given.map(([key]) => key).join(', ')}`);
  const [key, kind] = given[0]!;
  const n = readNumber(fields.get(key.toLowerCase()), `${name}.${key}`, fail);
  if (!n.ok) return n;
  return ok({ kind, value: n.value! });
}

// ---------------------------------------------------------------------------------------------------
// Plain text

const PLAIN_ACTIONS: Readonly<Record<string, SignalAction>> = {
  buy: 'buy',
  long: 'buy',
  sell: 'sell',
  short: 'sell',
  flatten: 'flatten',
  close: 'close',
  exit: 'close',
};

type PlainKey = 'tp' | 'sl' | 'qty' | 'account' | 'group' | 'limit' | 'price';

const PLAIN_KEYS: Readonly<Record<string, PlainKey>> = {
  tp: 'tp',
  target: 'tp',
  takeprofit: 'tp',
  take_profit: 'tp',
  sl: 'sl',
  stop: 'sl',
  stoploss: 'sl',
  stop_loss: 'sl',
  qty: 'qty',
  quantity: 'qty',
  account: 'account',
  acct: 'account',
  group: 'group',
  limit: 'limit',
  at: 'price',
  price: 'price',
};

const numeric = (token: string): boolean => /^[+-]?[\d.,]+$/.test(token);

/**
 * Parse a one-line alert such as `BUY MNQ1! @ 21500.25 TP 21520 SL 21490`, `SELL 3 ES`,
 * `BUY MNQ 2 TP 20 SL 10`, `FLATTEN MNQ`, `FLATTEN` (everything) or `CLOSE MNQ`. Words in any case and
 * (after the action) any order; `TP=20` and `TP: 20` also work. The quantity defaults to 1.
 * `@ PRICE` (or `AT PRICE`) is the alert price and the entry stays a market order; `LIMIT PRICE`, or
 * `LIMIT` with `@ PRICE`, makes a limit entry. TP/SL numbers follow the module's rule: within 50% of
 * the alert price they are price levels, otherwise points. `EXIT` without a symbol flattens everything.
 */
export function parsePlainAlert(text: string): Result<Signal, UsageError> {
  const usage = ALERT_USAGE.plain;
  const fail = failWith(usage);
  const tokens = text.trim().split(/\s+/).filter(Boolean);
  const first = tokens[0];
  if (first === undefined) return fail('empty alert');
  let action = PLAIN_ACTIONS[first.toLowerCase()];
  if (!action) return fail(`expected BUY, SELL, FLATTEN or CLOSE first (got ${first})`);

  const values: Partial<Record<PlainKey, { raw: string; token: string }>> = {};
  let limitWord = false;
  let all = false;
  let symbolToken: string | undefined;
  let qtyToken: string | undefined;
  const unknown: string[] = [];

  for (let i = 1; i < tokens.length; i++) {
    const token = tokens[i]!;
    let key: PlainKey | undefined;
    let attached: string | undefined;
    if (token.startsWith('@')) {
      key = 'price';
      attached = token.length > 1 ? token.slice(1) : undefined;
    } else {
      const m = /^([A-Za-z_]+)(?:([=:])(.*))?$/s.exec(token);
      key = m ? PLAIN_KEYS[m[1]!.toLowerCase()] : undefined;
      if (key && m?.[2]) attached = m[3] === '' ? undefined : m[3];
    }
    if (key) {
      let raw = attached;
      if (raw === undefined) {
        let j = i + 1;
        if (tokens[j] === '=' || tokens[j] === ':') j++;
        const next = tokens[j];
        // `LIMIT` on its own marks the entry as a limit at the `@` price.
        if (key === 'limit' && (next === undefined || !numeric(next.replace(/^@/, '')))) {
          limitWord = true;
          continue;
        }
        if (next === undefined) return fail(`${token.replace(/[=:]$/, '')}: missing value`);
        raw = next;
        i = j;
      }
      const previous = values[key];
      if (previous || (key === 'qty' && qtyToken !== undefined)) {
        return fail(`duplicate ${key} (${previous?.token ?? qtyToken} and ${token})`);
      }
      values[key] = { raw: key === 'limit' ? raw.replace(/^@/, '') : raw, token };
      continue;
    }
    if (numeric(token) && qtyToken === undefined && !values.qty) {
      qtyToken = token;
      continue;
    }
    if (parseSymbol(token) !== null) {
      if (symbolToken !== undefined)
        return fail(`two symbols: ${symbolToken.toUpperCase()} and ${token.toUpperCase()}`);
      symbolToken = token;
      continue;
    }
    if (token.toLowerCase() === 'all' && action === 'flatten' && !all) {
      all = true;
      continue;
    }
    unknown.push(token);
  }

  const stray = unknown[0];
  if (stray !== undefined) {
    // The first word we could not place is most likely the symbol when none was recognized.
    if (symbolToken === undefined && !numeric(stray) && !all) {
      return fail(`unknown symbol ${stray.toUpperCase()}`, 'unknown_symbol');
    }
    return fail(`unexpected ${stray}`);
  }
  if (all && symbolToken !== undefined) return fail(`FLATTEN takes a symbol or ALL, not both`);

  if (symbolToken === undefined && first.toLowerCase() === 'exit') action = 'flatten';
  let symbol: string | null = null;
  if (symbolToken !== undefined) {
    const parsed = withUsage(parseSymbolToken(symbolToken), usage);
    if (!parsed.ok) return parsed;
    symbol = parsed.value;
  } else if (action !== 'flatten') {
    return fail('missing symbol');
  }

  let reference: number | undefined;
  if (values.price) {
    const n = parseDecimal(values.price.raw);
    if (n === null || n <= 0) return fail(`price: expected a number like 21500.25 (got ${values.price.raw})`);
    reference = n;
  }
  const target = withUsage(parseTarget(values.account?.raw, values.group?.raw), usage);
  if (!target.ok) return target;

  if (action === 'flatten' || action === 'close') {
    const extra =
      qtyToken ?? values.qty?.token ?? values.tp?.token ?? values.sl?.token ?? values.limit?.token;
    if (extra !== undefined || limitWord)
      return fail(`${first.toUpperCase()} takes only a symbol (got ${extra ?? 'LIMIT'})`);
    return finish(
      {
        action,
        symbol,
        quantity: 0,
        entry: { type: 'market' },
        ...(reference !== undefined ? { referencePrice: reference } : {}),
        target: target.value,
      },
      usage,
    );
  }

  let quantity = 1;
  const qtyRaw = qtyToken ?? values.qty?.raw;
  if (qtyRaw !== undefined) {
    const parsed = withUsage(parseQuantity(qtyRaw), usage);
    if (!parsed.ok) return parsed;
    quantity = parsed.value;
  }

  let entry: EntrySpec = { type: 'market' };
  if (values.limit || limitWord) {
    const raw = values.limit?.raw;
    const at = raw === undefined ? reference : parseDecimal(raw);
    if (at === undefined) return fail('LIMIT needs a price: LIMIT 21500 or @ 21500 LIMIT');
    if (at === null || at <= 0) return fail(`limit: expected a price like 21500.25 (got ${raw})`);
    entry = { type: 'limit', price: at };
    reference ??= at;
  }

  const tp = values.tp ? withUsage(parseAlertLevel(values.tp.raw, 'tp', reference), usage) : undefined;
  if (tp && !tp.ok) return tp;
  const sl = values.sl ? withUsage(parseAlertLevel(values.sl.raw, 'sl', reference), usage) : undefined;
  if (sl && !sl.ok) return sl;

  return finish(
    {
      action,
      symbol,
      quantity,
      entry,
      ...(tp ? { takeProfit: tp.value } : {}),
      ...(sl ? { stopLoss: sl.value } : {}),
      ...(reference !== undefined ? { referencePrice: reference } : {}),
      target: target.value,
    },
    usage,
  );
}

// ---------------------------------------------------------------------------------------------------
// key=value; pairs (CrossTrade style)

type KvKey =
  | 'action'
  | 'command'
  | 'symbol'
  | 'qty'
  | 'tp'
  | 'sl'
  | 'price'
  | 'limitPrice'
  | 'type'
  | 'account'
  | 'group';

const KV_KEYS: Readonly<Record<string, KvKey | 'ignore'>> = {
  action: 'action',
  side: 'action',
  command: 'command',
  symbol: 'symbol',
  ticker: 'symbol',
  instrument: 'symbol',
  qty: 'qty',
  quantity: 'qty',
  contracts: 'qty',
  tp: 'tp',
  take_profit: 'tp',
  takeprofit: 'tp',
  target: 'tp',
  sl: 'sl',
  stop_loss: 'sl',
  stoploss: 'sl',
  stop: 'sl',
  price: 'price',
  limit_price: 'limitPrice',
  limitprice: 'limitPrice',
  type: 'type',
  order_type: 'type',
  ordertype: 'type',
  account: 'account',
  accounts: 'account',
  group: 'group',
  // Fields CrossTrade and alert templates carry that do not change what we trade.
  tif: 'ignore',
  time_in_force: 'ignore',
  strategy: 'ignore',
  comment: 'ignore',
  id: 'ignore',
  alert_id: 'ignore',
};

const KV_ACTIONS: Readonly<Record<string, SignalAction>> = {
  buy: 'buy',
  long: 'buy',
  sell: 'sell',
  short: 'sell',
  exit: 'close',
  close: 'close',
  closeposition: 'close',
  flatten: 'flatten',
  flatteneverything: 'flatten',
  flatten_everything: 'flatten',
};

const MONTH_CODES = 'FGHJKMNQUVXZ';

/** NinjaTrader's `NQ 12-24` (as CrossTrade sends it) → `NQZ24`; anything else unchanged. */
function fromNinjaTrader(symbol: string): string {
  const m = /^([A-Za-z0-9]{1,4})\s+(\d{1,2})-(\d{2})$/.exec(symbol.trim());
  const code = m ? MONTH_CODES[Number(m[2]) - 1] : undefined;
  return m && code ? `${m[1]!.toUpperCase()}${code}${m[3]}` : symbol;
}

/**
 * Parse `key=value;` pairs as CrossTrade-style alerts send them, e.g.
 * `action=buy; symbol=MNQ1!; qty=2; tp=20; sl=10; price=21500; type=limit;`. Keys are
 * case-insensitive; pairs may also be split by new lines. `type=limit` enters at `limit_price` or
 * `price`; otherwise `price` is the alert price. `command=closeposition` / `flatteneverything` and
 * `action=exit|close|flatten` exit; NinjaTrader instruments (`NQ 12-24`) are accepted. TP/SL values
 * follow the module's rule for bare numbers. Unknown and repeated keys are refused, naming the key.
 */
export function parseKeyValueAlert(text: string): Result<Signal, UsageError> {
  const usage = ALERT_USAGE.keyValue;
  const fail = failWith(usage);
  const values: Partial<Record<KvKey, string>> = {};
  for (const part of text.split(/[;\n]/)) {
    const segment = part.trim();
    if (segment === '') continue;
    const m = /^([A-Za-z_][A-Za-z0-9_ ]*?)\s*[=:]\s*(.*)$/s.exec(segment);
    if (!m) return fail(`expected key=value (got ${segment})`);
    const typedKey = m[1]!;
    const key = KV_KEYS[typedKey.toLowerCase().replace(/\s+/g, '_')];
    if (!key) return fail(`unknown key ${typedKey}`);
    if (key === 'ignore') continue;
    if (values[key] !== undefined) return fail(`duplicate ${typedKey}`);
    values[key] = m[2]!.trim().replace(/^"(.*)"$/s, '$1');
  }
  if (Object.keys(values).length === 0) return fail('empty alert');

  let action: SignalAction | undefined;
  const command = values.command?.toLowerCase();
  if (command !== undefined && command !== 'place') {
    action = KV_ACTIONS[command];
    if (action !== 'close' && action !== 'flatten') {
      return fail(
        `command ${values.command} is not supported (expected place, closeposition or flatteneverything)`,
      );
    }
  }
  if (values.action !== undefined) {
    const named = KV_ACTIONS[values.action.toLowerCase()];
    if (!named) return fail(`unknown action ${values.action} (expected buy, sell, exit or flatten)`);
    // With an exit command the action only says which side was open; the command decides.
    action ??= named;
  }
  if (action === undefined) return fail('missing action');

  let symbol: string | null = null;
  if (values.symbol !== undefined && values.symbol !== '') {
    const parsed = withUsage(parseSymbolToken(fromNinjaTrader(values.symbol)), usage);
    if (!parsed.ok) return parsed;
    symbol = parsed.value;
  } else if (action === 'close') {
    action = 'flatten';
  } else if (action !== 'flatten') {
    return fail('missing symbol');
  }

  let reference: number | undefined;
  if (values.price !== undefined) {
    const n = parseDecimal(values.price);
    if (n === null) return fail(`price must be a number (got ${values.price})`);
    reference = n;
  }
  const target = withUsage(parseTarget(values.account, values.group), usage);
  if (!target.ok) return target;

  if (action === 'close' || action === 'flatten') {
    return finish(
      {
        action,
        symbol,
        quantity: 0,
        entry: { type: 'market' },
        ...(reference !== undefined ? { referencePrice: reference } : {}),
        target: target.value,
      },
      usage,
    );
  }

  let quantity = 1;
  if (values.qty !== undefined) {
    const parsed = withUsage(parseQuantity(values.qty), usage);
    if (!parsed.ok) return parsed;
    quantity = parsed.value;
  }

  const type = values.type?.toLowerCase() ?? (values.limitPrice !== undefined ? 'limit' : 'market');
  if (type !== 'market' && type !== 'limit') {
    return fail(`type ${values.type} is not supported (expected market or limit)`);
  }
  let entry: EntrySpec = { type: 'market' };
  if (type === 'limit') {
    const raw = values.limitPrice ?? values.price;
    if (raw === undefined) return fail('type=limit needs price or limit_price');
    const at = parseDecimal(raw);
    if (at === null) return fail(`limit price must be a number (got ${raw})`);
    entry = { type: 'limit', price: at };
    reference ??= at;
  }

  const tp =
    values.tp !== undefined ? withUsage(parseAlertLevel(values.tp, 'tp', reference), usage) : undefined;
  if (tp && !tp.ok) return tp;
  const sl =
    values.sl !== undefined ? withUsage(parseAlertLevel(values.sl, 'sl', reference), usage) : undefined;
  if (sl && !sl.ok) return sl;

  return finish(
    {
      action,
      symbol,
      quantity,
      entry,
      ...(tp ? { takeProfit: tp.value } : {}),
      ...(sl ? { stopLoss: sl.value } : {}),
      ...(reference !== undefined ? { referencePrice: reference } : {}),
      target: target.value,
    },
    usage,
  );
}

// ---------------------------------------------------------------------------------------------------
// Detection

/**
 * Parse an alert in whatever format it came: a parsed JSON body or JSON text (TradersPost shape),
 * `key=value;` pairs, a `/buy`-style command (only with its leading slash, because in chat `@PRICE`
 * means a limit while in an alert line it is the alert price), or a plain line like `BUY MNQ 2`.
 */
export function parseAlert(input: unknown): Result<Signal, UsageError> {
  const fail = failWith(ALERT_USAGE.any);
  if (typeof input !== 'string') {
    if (lowerKeys(input)) return parseTradingViewJson(input);
    return fail('alert must be text or a JSON object');
  }
  const text = input.trim();
  if (text === '') return fail('empty alert');
  if (text.startsWith('{') || text.startsWith('[')) {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (e) {
      return fail(`alert looks like JSON but does not parse: ${e instanceof Error ? e.message : String(e)}`);
    }
    return parseTradingViewJson(body);
  }
  if (text.startsWith('/')) {
    const parsed = parseCommand(text);
    if (!parsed.ok) return parsed;
    const command = parsed.value;
    if (!('signal' in command)) return fail(`/${command.name} is not a trading command`);
    return ok(command.signal);
  }
  if (/^[A-Za-z_][A-Za-z0-9_]*\s*=/.test(text) || /^[A-Za-z_][A-Za-z0-9_]*\s*:[^;]*;/.test(text)) {
    return parseKeyValueAlert(text);
  }
  return parsePlainAlert(text);
}

const SIGNAL_WORDS: ReadonlySet<string> = new Set([
  'buy',
  'sell',
  'long',
  'short',
  'flatten',
  'close',
  'exit',
]);

/**
 * Whether a chat message is meant as a signal: a trading slash command, `flatten` / `flatten all`, or
 * any message naming both a trading word (buy, sell, long, short, flatten, close, exit) and a known
 * symbol. A transport ignores messages for which this is false and answers parse errors on the rest,
 * so "good morning all" is left alone while "BUY MNQ now" gets told what is wrong with it.
 */
export function looksLikeSignal(text: string): boolean {
  const t = text.trim();
  if (/^\/(?:buy|sell|long|short|flatten|close)(?:@\w+)?(?:\s|$)/i.test(t)) return true;
  const words = t
    .split(/[\s;,=:()[\]{}"'`|<>]+/)
    .map((w) => w.replace(/^[#$*_~.]+/, ''))
    .filter((w) => w !== '');
  const lower = words.map((w) => w.toLowerCase().replace(/[.,!?*_~]+$/, ''));
  if (lower[0] === 'flatten' && (lower.length === 1 || (lower.length === 2 && lower[1] === 'all')))
    return true;
  if (!lower.some((w) => SIGNAL_WORDS.has(w))) return false;
  return words.some((w) => parseSymbol(w) !== null || parseSymbol(w.replace(/[.,!?*_~]+$/, '')) !== null);
}
