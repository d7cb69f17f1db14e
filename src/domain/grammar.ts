/**
 * The command grammar every chat transport shares. Discord, Telegram and the console all hand the
 * text of a command (Discord rebuilds it from slash options, or uses the field parsers exported here)
 * to {@link parseCommand}, so a command means the same thing wherever it was typed.
 *
 * Brackets (`tp=`, `sl=`): a plain number is points from the entry (`tp=20`), a number with `t` is ticks
 * (`tp=80t`), a number with `@` is an absolute price (`tp=@21520.25`), a number with `%` is percent of
 * the reference price. In chat, `@PRICE` on its own makes a limit entry.
 */
import type { CommandName, ParsedCommand, UsageError } from './commands.js';
import { err, ok, type Result } from './result.js';
import { parseSymbol } from './symbols.js';
import { type PriceSpec, ROLES, type Role, type Signal, type TargetFilter } from './types.js';
import { validateSignal } from './validate.js';

/** Every command, in the order help lists them. */
export const COMMANDS: readonly CommandName[] = [
  'buy',
  'sell',
  'flatten',
  'close',
  'positions',
  'accounts',
  'status',
  'halt',
  'resume',
  'help',
  'link',
  'dashboard',
  'subscribe',
  'unsubscribe',
  'role',
  'channel',
  'provider',
];

const TARGET = '[account=NAME[,NAME]|all] [group=NAME]';
const BRACKETS = '[tp=20|80t|@PRICE] [sl=10|40t|@PRICE] [limit=PRICE|@PRICE]';

/** The usage line of each command, shown with every usage error and by `/help COMMAND`. */
export const USAGE: Readonly<Record<CommandName, string>> = {
  buy: `/buy SYMBOL QTY ${BRACKETS} ${TARGET}`,
  sell: `/sell SYMBOL QTY ${BRACKETS} ${TARGET}`,
  flatten: `/flatten [SYMBOL|all] ${TARGET}`,
  close: `/close SYMBOL ${TARGET}`,
  positions: `/positions ${TARGET}`,
  accounts: '/accounts',
  status: '/status',
  halt: '/halt [REASON]',
  resume: '/resume',
  help: '/help [COMMAND]',
  link: '/link',
  dashboard: '/dashboard',
  subscribe: '/subscribe ACCOUNT [CHANNEL]',
  unsubscribe: '/unsubscribe ACCOUNT [CHANNEL]',
  role: `/role USER ROLE | /role USER -ROLE | /role revoke USER ROLE (roles: ${ROLES.join(', ')})`,
  channel: '/channel signal|report',
  provider: '/provider add|remove USER (USER as platform:id, e.g. telegram:12345)',
};

const SUMMARY: Readonly<Record<CommandName, string>> = {
  buy: 'buy: open or add to a long',
  sell: 'sell: open or add to a short',
  flatten: 'close positions and cancel working orders (every symbol unless one is named)',
  close: "close one symbol's position",
  positions: 'show open positions',
  accounts: 'list your accounts',
  status: 'service and broker status',
  halt: 'stop new entries everywhere (admin)',
  resume: 'allow entries again (admin)',
  help: 'this list, or the options of one command',
  link: 'link a Tradovate login: sign in on Tradovate, and its accounts become yours here',
  dashboard: 'a one-time link that signs you in to the web dashboard',
  subscribe: "take a channel's signals on one of your accounts",
  unsubscribe: "stop taking a channel's signals on an account",
  role: 'grant or revoke a role (admin)',
  channel: 'register this chat as a signal or report channel (admin)',
  provider: 'add or remove a signal provider of this chat (admin)',
};

/** A short list of every command, for `/help` without a topic. */
export function helpText(): string {
  return [
    ...COMMANDS.map((name) => `/${name}: ${SUMMARY[name]}`),
    '',
    'tp/sl: 20 = points, 80t = ticks, @21520.25 = price. /help COMMAND shows its options.',
  ].join('\n');
}

/** Words traders type for a command; each maps to the one command it means. */
const ALIASES: Readonly<Record<string, CommandName>> = { long: 'buy', short: 'sell' };

/** `/cmd`, `cmd` or Telegram's `/cmd@botname` in groups. */
const HEAD = /^\/?([A-Za-z]+)(?:@([A-Za-z0-9_]+))?$/;

/**
 * The bot a command is addressed to (`/buy@OtherBot ...` → `OtherBot`), or null when it names none.
 * Telegram delivers every bot's commands to every bot in a group; a transport uses this to ignore
 * commands meant for another bot instead of replying with an error.
 */
export function addressedTo(text: string): string | null {
  const head = text.trim().split(/\s+/, 1)[0] ?? '';
  return HEAD.exec(head)?.[2] ?? null;
}

/**
 * Parse one command as typed. A leading `/` is optional; `/cmd@botname` is accepted when the name
 * matches `opts.botName` (case-insensitive) or when no bot name is given, and refused when it names
 * another bot (check {@link addressedTo} first to ignore those silently). Trading commands go through
 * {@link validateSignal}. Errors carry the command's usage line.
 */
export function parseCommand(
  text: string,
  opts: { botName?: string } = {},
): Result<ParsedCommand, UsageError> {
  const trimmed = text.trim();
  if (trimmed === '') return err({ code: 'unknown_command', message: 'empty command', usage: null });
  const space = trimmed.search(/\s/);
  const head = space < 0 ? trimmed : trimmed.slice(0, space);
  const rest = space < 0 ? '' : trimmed.slice(space).trim();

  const match = HEAD.exec(head);
  if (!match?.[1]) return err({ code: 'unknown_command', message: `unknown command ${head}`, usage: null });
  const bot = match[2];
  if (bot && opts.botName && bot.toLowerCase() !== opts.botName.replace(/^@/, '').toLowerCase()) {
    return err({ code: 'usage', message: `command is addressed to @${bot}`, usage: null });
  }
  const word = match[1].toLowerCase();
  const name = (COMMANDS as readonly string[]).includes(word) ? (word as CommandName) : ALIASES[word];
  if (!name) return err({ code: 'unknown_command', message: `unknown command /${word}`, usage: null });

  const result = dispatch(name, rest);
  return result.ok ? result : err({ ...result.error, usage: result.error.usage ?? USAGE[name] });
}

function dispatch(name: CommandName, rest: string): Result<ParsedCommand, UsageError> {
  switch (name) {
    case 'buy':
    case 'sell':
      return parseTrade(name, rest);
    case 'flatten':
    case 'close':
      return parseExit(name, rest);
    case 'positions': {
      const opts = collectOptions(name, rest, ['account', 'group']);
      if (!opts.ok) return opts;
      const extra = opts.value.positionals[0];
      if (extra !== undefined) return usage(`unexpected ${extra}`);
      const target = parseTarget(opts.value.values.account?.raw, opts.value.values.group?.raw);
      return target.ok ? ok({ name, target: target.value }) : target;
    }
    case 'accounts':
    case 'status':
    case 'resume':
    case 'link':
    case 'dashboard': {
      const extra = tokenize(rest)[0];
      return extra === undefined ? ok({ name }) : usage(`unexpected ${extra}`);
    }
    case 'halt':
      return ok({ name, reason: rest === '' ? null : rest });
    case 'help':
      return parseHelp(rest);
    case 'subscribe':
    case 'unsubscribe': {
      const [account, channel, extra] = tokenize(rest);
      if (account === undefined) return usage('missing account');
      if (extra !== undefined) return usage(`unexpected ${extra}`);
      return ok({ name, account, channel: channel ?? null });
    }
    case 'role':
      return parseRole(rest);
    case 'channel': {
      const [role, extra] = tokenize(rest);
      if (role === undefined) return usage('missing role: signal or report');
      if (extra !== undefined) return usage(`unexpected ${extra}`);
      const r = role.toLowerCase();
      if (r !== 'signal' && r !== 'report')
        return usage(`channel role must be signal or report (got ${role})`);
      return ok({ name, role: r });
    }
    case 'provider': {
      const [verb, user, extra] = tokenize(rest);
      const v = verb?.toLowerCase();
      if (v !== 'add' && v !== 'remove') return usage(`expected add or remove (got ${verb ?? 'nothing'})`);
      if (user === undefined) return usage('missing user');
      if (extra !== undefined) return usage(`unexpected ${extra}`);
      return ok({ name, user, remove: v === 'remove' });
    }
  }
}

function parseTrade(name: 'buy' | 'sell', rest: string): Result<ParsedCommand, UsageError> {
  const opts = collectOptions(name, rest, ['tp', 'sl', 'limit', 'qty', 'account', 'group']);
  if (!opts.ok) return opts;
  const { values, positionals } = opts.value;

  const pos = [...positionals];
  // `/buy 2 MNQ` reads as naturally as `/buy MNQ 2`; only swap when the order is unambiguous.
  if (pos.length >= 2 && looksNumeric(pos[0]!) && !looksNumeric(pos[1]!)) pos.unshift(pos.splice(1, 1)[0]!);
  const [symbolToken, qtyToken, extra] = pos;
  if (symbolToken === undefined || looksNumeric(symbolToken)) return usage('missing symbol');
  const symbol = parseSymbolToken(symbolToken);
  if (!symbol.ok) return symbol;
  if (extra !== undefined) return usage(`unexpected ${extra}`);

  if (qtyToken !== undefined && values.qty)
    return usage(`duplicate quantity (${qtyToken} and ${values.qty.token})`);
  const qtyRaw = qtyToken ?? values.qty?.raw;
  if (qtyRaw === undefined) return usage('missing quantity');
  const quantity = parseQuantity(qtyRaw);
  if (!quantity.ok) return quantity;

  let limit: number | undefined;
  if (values.limit) {
    const raw = values.limit.raw.replace(/^@/, '').trim();
    const price = parseDecimal(raw);
    if (price === null || price <= 0)
      return usage(`limit: expected a price like 21500.25 (got ${values.limit.raw})`);
    limit = price;
  }
  const tp = values.tp ? parsePriceSpec(values.tp.raw, 'tp') : undefined;
  if (tp && !tp.ok) return tp;
  const sl = values.sl ? parsePriceSpec(values.sl.raw, 'sl') : undefined;
  if (sl && !sl.ok) return sl;
  const target = parseTarget(values.account?.raw, values.group?.raw);
  if (!target.ok) return target;

  const signal: Signal = {
    action: name,
    symbol: symbol.value,
    quantity: quantity.value,
    entry: limit === undefined ? { type: 'market' } : { type: 'limit', price: limit },
    ...(tp ? { takeProfit: tp.value } : {}),
    ...(sl ? { stopLoss: sl.value } : {}),
    target: target.value,
  };
  const valid = validateSignal(signal);
  return valid.ok ? ok({ name, signal: valid.value }) : valid;
}

function parseExit(name: 'flatten' | 'close', rest: string): Result<ParsedCommand, UsageError> {
  const opts = collectOptions(name, rest, ['account', 'group']);
  if (!opts.ok) return opts;
  const [symbolToken, extra] = opts.value.positionals;
  if (extra !== undefined) return usage(`unexpected ${extra}`);
  let symbol: string | null = null;
  if (symbolToken === undefined || symbolToken.toLowerCase() === 'all') {
    if (name === 'close') {
      return usage(
        symbolToken === undefined ? 'missing symbol' : 'close takes one symbol; /flatten closes everything',
      );
    }
  } else {
    const parsed = parseSymbolToken(symbolToken);
    if (!parsed.ok) return parsed;
    symbol = parsed.value;
  }
  const target = parseTarget(opts.value.values.account?.raw, opts.value.values.group?.raw);
  if (!target.ok) return target;
  const valid = validateSignal({
    action: name,
    symbol,
    quantity: 0,
    entry: { type: 'market' },
    target: target.value,
  });
  return valid.ok ? ok({ name, signal: valid.value }) : valid;
}

function parseHelp(rest: string): Result<ParsedCommand, UsageError> {
  const [topic, extra] = tokenize(rest);
  if (extra !== undefined) return usage(`unexpected ${extra}`);
  if (topic === undefined) return ok({ name: 'help', topic: null });
  const word = topic.replace(/^\//, '').toLowerCase();
  const name = (COMMANDS as readonly string[]).includes(word) ? word : ALIASES[word];
  if (!name) return err({ code: 'unknown_command', message: `unknown command ${topic}`, usage: null });
  return ok({ name: 'help', topic: name });
}

function parseRole(rest: string): Result<ParsedCommand, UsageError> {
  const tokens = tokenize(rest);
  const verb = tokens[0]?.toLowerCase();
  // `role revoke USER ROLE` / `role grant USER ROLE`, else `role USER ROLE` with an optional -/+ on the role.
  const keyword = verb === 'revoke' || verb === 'grant';
  const [user, roleToken, extra] = keyword ? tokens.slice(1) : tokens;
  if (user === undefined) return usage('missing user');
  if (roleToken === undefined) return usage('missing role');
  if (extra !== undefined) return usage(`unexpected ${extra}`);
  const sign = roleToken[0] === '-' || roleToken[0] === '+' ? roleToken[0] : '';
  if (keyword && sign) return usage(`unexpected ${roleToken}: write the role without ${sign}`);
  const roleName = roleToken.slice(sign.length).toLowerCase();
  if (!(ROLES as readonly string[]).includes(roleName)) {
    return usage(`unknown role ${roleToken.slice(sign.length)} (expected ${ROLES.join(', ')})`);
  }
  return ok({ name: 'role', user, role: roleName as Role, revoke: verb === 'revoke' || sign === '-' });
}

type OptionKey = 'tp' | 'sl' | 'limit' | 'qty' | 'account' | 'group';

/** Option names as typed (lowercased) → the option they set; aliases cost nothing and save a retry. */
const OPTION_KEYS: Readonly<Record<string, OptionKey>> = {
  tp: 'tp',
  target: 'tp',
  takeprofit: 'tp',
  take_profit: 'tp',
  sl: 'sl',
  stop: 'sl',
  stoploss: 'sl',
  stop_loss: 'sl',
  limit: 'limit',
  qty: 'qty',
  quantity: 'qty',
  account: 'account',
  accounts: 'account',
  acct: 'account',
  group: 'group',
};

const OPTION_LABEL: Readonly<Record<OptionKey, string>> = {
  tp: 'take-profit',
  sl: 'stop-loss',
  limit: 'limit price',
  qty: 'quantity',
  account: 'account',
  group: 'group',
};

interface OptionValue {
  /** The value after the key, as typed. */
  readonly raw: string;
  /** The whole token, for error messages. */
  readonly token: string;
}

interface Options {
  readonly values: Partial<Record<OptionKey, OptionValue>>;
  readonly positionals: readonly string[];
}

/**
 * Split the arguments into `key=value` options and positional words. Accepts `key=v`, `key:v`,
 * `key = v`, `key v` and `@PRICE` (a limit); refuses unknown keys, keys the command does not take
 * and keys given twice, naming the token.
 */
function collectOptions(
  name: CommandName,
  rest: string,
  allowed: readonly OptionKey[],
): Result<Options, UsageError> {
  // `account=a, b` is one list, not a list and a stray word.
  const tokens = joinSpread(tokenize(rest.replace(/,\s+/g, ',')));
  const values: Partial<Record<OptionKey, OptionValue>> = {};
  const positionals: string[] = [];
  for (const token of tokens) {
    let key: OptionKey | undefined;
    let raw: string;
    const kv = /^([A-Za-z_]+)([=:])(.*)$/s.exec(token);
    if (token.startsWith('@')) {
      key = 'limit';
      raw = token;
    } else if (kv) {
      key = OPTION_KEYS[kv[1]!.toLowerCase()];
      raw = kv[3]!;
      if (!key) {
        // `CME_MINI:MNQ1!` is a symbol with its exchange, not an option.
        if (kv[2] === ':') {
          positionals.push(token);
          continue;
        }
        return usage(`unknown option ${token}`);
      }
    } else {
      const bare = OPTION_KEYS[token.toLowerCase()];
      if (bare) return usage(`${token}: missing value`);
      positionals.push(token);
      continue;
    }
    if (!allowed.includes(key)) return usage(`/${name} takes no ${OPTION_LABEL[key]} (${token})`);
    const previous = values[key];
    if (previous) return usage(`duplicate ${OPTION_LABEL[key]} (${previous.token} and ${token})`);
    if (raw.trim() === '') return usage(`${kv?.[1] ?? token}: missing value`);
    values[key] = { raw: raw.trim(), token };
  }
  return ok({ values, positionals });
}

/** Rejoin what people type with spaces: `@ 21500`, `tp 20`, `tp= 20`, `tp =20`, `tp = 20`. */
function joinSpread(tokens: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    const next = tokens[i + 1];
    if (token === '@' && next !== undefined) {
      out.push(`@${next}`);
      i++;
      continue;
    }
    const key = /^([A-Za-z_]+)([=:]?)$/.exec(token);
    if (key && OPTION_KEYS[key[1]!.toLowerCase()] && next !== undefined) {
      if (!key[2] && (next === '=' || next === ':')) {
        const after = tokens[i + 2];
        out.push(after === undefined ? `${key[1]}=` : `${key[1]}=${after}`);
        i += after === undefined ? 1 : 2;
      } else {
        out.push(`${key[1]}=${!key[2] && /^[=:]/.test(next) ? next.slice(1) : next}`);
        i++;
      }
      continue;
    }
    out.push(token);
  }
  return out;
}

/**
 * Split on whitespace; double quotes (straight or curly, as phone keyboards type them) keep a value
 * with spaces together: `group="Team A"`.
 */
function tokenize(text: string): string[] {
  const tokens: string[] = [];
  let current = '';
  let started = false;
  let closing: string | null = null;
  for (const ch of text) {
    if (closing !== null) {
      if (ch === closing) closing = null;
      else current += ch;
      continue;
    }
    if (ch === '"' || ch === '“') {
      closing = ch === '"' ? '"' : '”';
      started = true;
      continue;
    }
    if (/\s/.test(ch)) {
      if (started) tokens.push(current);
      current = '';
      started = false;
      continue;
    }
    current += ch;
    started = true;
  }
  if (started) tokens.push(current);
  return tokens;
}

const usage = (message: string): Result<never, UsageError> => err({ code: 'usage', message, usage: null });

const looksNumeric = (token: string): boolean => /^[+-]?[\d.,]+$/.test(token);

/**
 * A plain decimal number (`20`, `21520.25`, `.5`, `-3`), or null. Stricter than `Number()`, which
 * also accepts `''`, `0x10`, `1e3` and `Infinity`.
 */
export function parseDecimal(text: string): number | null {
  const s = text.trim();
  return /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$/.test(s) ? Number(s) : null;
}

/** A signal quantity: a positive whole number of contracts (`2`, not `0`, `-1` or `1.5`). */
export function parseQuantity(text: string): Result<number, UsageError> {
  const n = parseDecimal(text);
  if (n === null || !Number.isInteger(n) || n <= 0) {
    return usage(`quantity must be a positive whole number (got ${text.trim() || 'nothing'})`);
  }
  return ok(n);
}

/**
 * A take-profit or stop-loss as typed in chat: `20` or `20pts` = points from the entry, `80t` = ticks,
 * `@21520.25` = an absolute price, `0.5%` = percent of the reference price. `field` names the option
 * in the error message (`tp`, `sl`).
 */
export function parsePriceSpec(text: string, field: string): Result<PriceSpec, UsageError> {
  const raw = text.trim();
  const expected = usage(
    `${field}: expected points like 20, ticks like 80t or a price like @21520.25 (got ${raw || 'nothing'})`,
  );
  const [kind, number] = splitUnit(raw);
  const value = parseDecimal(number);
  if (value === null) return expected;
  if (value <= 0) return usage(`${field} must be greater than 0 (got ${raw})`);
  if (kind === 'ticks' && !Number.isInteger(value))
    return usage(`${field}: ticks must be a whole number (got ${raw})`);
  return ok({ kind, value });
}

/** Unit markers: `@` before a price; `pts`, `t`/`ticks` or `%` after a number; nothing means points. */
const UNIT_SUFFIXES: readonly (readonly [RegExp, PriceSpec['kind']])[] = [
  [/^(.+?)\s*(?:pts?|points?)$/i, 'points'],
  [/^(.+?)\s*t(?:icks?)?$/i, 'ticks'],
  [/^(.+?)\s*%$/, 'percent'],
];

function splitUnit(raw: string): [PriceSpec['kind'], string] {
  if (raw.startsWith('@')) return ['price', raw.slice(1)];
  for (const [pattern, kind] of UNIT_SUFFIXES) {
    const m = pattern.exec(raw);
    if (m?.[1]) return [kind, m[1]];
  }
  return ['points', raw];
}

/**
 * A symbol as typed, checked against the known products and normalized to upper case without its
 * exchange prefix (`cme_mini:mnq1!` → `MNQ1!`). Unknown symbols fail with code `unknown_symbol`.
 */
export function parseSymbolToken(text: string): Result<string, UsageError> {
  const typed = text.trim();
  if (typed === '') return usage('missing symbol');
  if (parseSymbol(typed) === null) {
    return err({ code: 'unknown_symbol', message: `unknown symbol ${typed.toUpperCase()}`, usage: null });
  }
  const upper = typed.toUpperCase();
  return ok(upper.slice(upper.lastIndexOf(':') + 1));
}

/**
 * The target filter from `account=` and `group=` values: a comma-separated list of account names, or
 * `all` (admin only; the command layer checks who may use it), and a group name.
 */
export function parseTarget(
  account: string | undefined,
  group: string | undefined,
): Result<TargetFilter, UsageError> {
  const target: { accounts?: string[]; group?: string; all?: boolean } = {};
  if (account !== undefined) {
    const names = [
      ...new Set(
        account
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== ''),
      ),
    ];
    if (names.length === 0) return usage('account: missing name');
    if (names.some((n) => n.toLowerCase() === 'all')) {
      if (names.length > 1)
        return usage(`account=all cannot be combined with account names (got ${account})`);
      target.all = true;
    } else {
      target.accounts = names;
    }
  }
  if (group !== undefined) {
    const name = group.trim();
    if (name === '') return usage('group: missing name');
    target.group = name;
  }
  return ok(target);
}
