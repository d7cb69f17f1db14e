import { describe, expect, it } from 'vitest';
import type { ParsedCommand, UsageError } from '../../../src/domain/commands.js';
import {
  addressedTo,
  COMMANDS,
  helpText,
  parseCommand,
  parsePriceSpec,
  parseQuantity,
  USAGE,
} from '../../../src/domain/grammar.js';
import type { Result } from '../../../src/domain/result.js';
import type { Signal } from '../../../src/domain/types.js';
import { validateSignal } from '../../../src/domain/validate.js';

function parsed(text: string, opts?: { botName?: string }): ParsedCommand {
  const result = parseCommand(text, opts);
  if (!result.ok) throw new Error(`expected ${text} to parse, got: ${result.error.message}`);
  return result.value;
}

function signalOf(text: string): Signal {
  const command = parsed(text);
  if (!('signal' in command)) throw new Error(`${text} is not a trading command`);
  return command.signal;
}

function failure<T>(result: Result<T, UsageError>): UsageError {
  if (result.ok) throw new Error(`expected an error, got ${JSON.stringify(result.value)}`);
  return result.error;
}

const failed = (text: string, opts?: { botName?: string }): UsageError => failure(parseCommand(text, opts));

describe('buy and sell', () => {
  it('reads plain tp and sl numbers as points from the entry', () => {
    expect(signalOf('/buy MNQ 1 tp=20 sl=10')).toEqual({
      action: 'buy',
      symbol: 'MNQ',
      quantity: 1,
      entry: { type: 'market' },
      takeProfit: { kind: 'points', value: 20 },
      stopLoss: { kind: 'points', value: 10 },
      target: {},
    });
  });

  it('reads a number with t as ticks', () => {
    expect(signalOf('/buy MNQ 1 tp=80t sl=40t')).toMatchObject({
      takeProfit: { kind: 'ticks', value: 80 },
      stopLoss: { kind: 'ticks', value: 40 },
    });
  });

  it('reads a number with @ as an absolute price', () => {
    expect(signalOf('/sell MNQ 2 tp=@21480.5 sl=@21520.25')).toMatchObject({
      action: 'sell',
      quantity: 2,
      takeProfit: { kind: 'price', value: 21480.5 },
      stopLoss: { kind: 'price', value: 21520.25 },
    });
  });

  it('reads a number with % as percent', () => {
    expect(signalOf('/buy ES 1 tp=0.5%').takeProfit).toEqual({ kind: 'percent', value: 0.5 });
  });

  it('works without the slash, in any case, with colons, aliases and spaced values', () => {
    const expected = signalOf('/buy MNQ 3 tp=20 sl=10');
    expect(signalOf('BUY mnq 3 TP:20 SL:10')).toEqual(expected);
    expect(signalOf('buy MNQ 3 target=20 stop=10')).toEqual(expected);
    expect(signalOf('buy MNQ 3 tp 20 sl = 10')).toEqual(expected);
    expect(signalOf('long MNQ 3 tp=20 sl=10')).toEqual(expected);
  });

  it('accepts the quantity before the symbol', () => {
    expect(signalOf('/sell 3 ES')).toMatchObject({ action: 'sell', symbol: 'ES', quantity: 3 });
  });

  it('keeps TradingView and contract symbols, upper-cased and without the exchange', () => {
    expect(signalOf('/buy mnq1! 1').symbol).toBe('MNQ1!');
    expect(signalOf('/buy CME_MINI:NQ1! 1').symbol).toBe('NQ1!');
    expect(signalOf('/buy MNQZ6 1').symbol).toBe('MNQZ6');
  });

  it('makes a limit entry from limit= or @PRICE', () => {
    const viaKey = signalOf('/buy MNQ 1 limit=21500.25 tp=20');
    expect(viaKey.entry).toEqual({ type: 'limit', price: 21500.25 });
    expect(signalOf('/buy MNQ 1 @21500.25 tp=20')).toEqual(viaKey);
    expect(signalOf('/buy MNQ 1 @ 21500.25 tp=20')).toEqual(viaKey);
  });

  it('reads account and group targets', () => {
    expect(signalOf('/buy MNQ 1 account=apex1,apex2 group=funded').target).toEqual({
      accounts: ['apex1', 'apex2'],
      group: 'funded',
    });
    expect(signalOf('/buy MNQ 1 account=apex1, apex2').target).toEqual({ accounts: ['apex1', 'apex2'] });
    expect(signalOf('/buy MNQ 1 group="Team A"').target).toEqual({ group: 'Team A' });
  });

  it('turns account=all into the all-accounts target', () => {
    expect(signalOf('/buy MNQ 1 account=all').target).toEqual({ all: true });
    expect(failed('/buy MNQ 1 account=all,apex1').message).toContain('cannot be combined');
  });

  it('refuses a missing symbol', () => {
    const error = failed('/buy');
    expect(error).toEqual({ code: 'usage', message: 'missing symbol', usage: USAGE.buy });
  });

  it('refuses a missing quantity', () => {
    expect(failed('/buy MNQ').message).toBe('missing quantity');
  });

  it.each([
    ['-1', '/buy MNQ -1'],
    ['0', '/buy MNQ 0'],
    ['1.5', '/buy MNQ 1.5'],
  ])('refuses quantity %s', (qty, text) => {
    const error = failed(text);
    expect(error.code).toBe('usage');
    expect(error.message).toBe(`quantity must be a positive whole number (got ${qty})`);
    expect(error.usage).toBe(USAGE.buy);
  });

  it('refuses a quantity above the cap', () => {
    expect(failed('/buy MNQ 10001').message).toBe(
      'quantity 10001 is above the limit of 10000 contracts per signal',
    );
  });

  it('names the bad tp value', () => {
    expect(failed('/buy MNQ 1 tp=abc').message).toBe(
      'tp: expected points like 20, ticks like 80t or a price like @21520.25 (got abc)',
    );
    expect(failed('/buy MNQ 1 sl=-5').message).toBe('sl must be greater than 0 (got -5)');
    expect(failed('/buy MNQ 1 tp=2.5t').message).toBe('tp: ticks must be a whole number (got 2.5t)');
  });

  it('refuses an unknown symbol with its own code, naming it', () => {
    expect(failed('/buy XYZ 1')).toEqual({
      code: 'unknown_symbol',
      message: 'unknown symbol XYZ',
      usage: USAGE.buy,
    });
  });

  it('refuses unknown options, duplicates and stray words, naming the token', () => {
    expect(failed('/buy MNQ 1 foo=2').message).toBe('unknown option foo=2');
    expect(failed('/buy MNQ 1 tp=20 target=30').message).toBe('duplicate take-profit (tp=20 and target=30)');
    expect(failed('/buy MNQ 1 @21500 limit=21490').message).toBe(
      'duplicate limit price (@21500 and limit=21490)',
    );
    expect(failed('/buy MNQ 1 now').message).toBe('unexpected now');
    expect(failed('/buy MNQ 1 tp').message).toBe('tp: missing value');
    expect(failed('/buy MNQ 1 tp=').message).toBe('tp: missing value');
  });

  it('refuses a limit buy whose take-profit price is below the limit', () => {
    const error = failed('/buy MNQ 1 @21500 tp=@21400');
    expect(error.message).toBe('take-profit 21400 is below the limit price 21500 for a buy');
    expect(error.usage).toBe(USAGE.buy);
  });

  it('refuses a limit sell whose stop price is below the limit', () => {
    expect(failed('/sell MNQ 1 limit=21500 sl=@21490').message).toBe(
      'stop-loss 21490 is below the limit price 21500 for a sell',
    );
  });

  it('accepts a limit sell with its levels on the right sides', () => {
    expect(signalOf('/sell MNQ 1 limit=21500 tp=@21450 sl=@21520')).toMatchObject({
      entry: { type: 'limit', price: 21500 },
    });
  });

  it('refuses a points distance that is really a price typed without @', () => {
    expect(failed('/buy MNQ 1 @21500 tp=21520').message).toBe(
      'take-profit of 21520 points from the limit price 21500 is implausible; did you mean the price 21520?',
    );
  });
});

describe('flatten and close', () => {
  it('flattens every symbol when none is named', () => {
    const command = parsed('/flatten');
    expect(command).toEqual({
      name: 'flatten',
      signal: { action: 'flatten', symbol: null, quantity: 0, entry: { type: 'market' }, target: {} },
    });
  });

  it('flattens every symbol with the word all', () => {
    expect(signalOf('/flatten all').symbol).toBeNull();
    expect(signalOf('/flatten ALL account=all').target).toEqual({ all: true });
  });

  it('flattens one symbol for a group', () => {
    expect(signalOf('/flatten MNQ group=funded')).toMatchObject({
      symbol: 'MNQ',
      target: { group: 'funded' },
    });
  });

  it('closes one symbol with action close', () => {
    expect(parsed('/close MNQ account=apex1')).toEqual({
      name: 'close',
      signal: {
        action: 'close',
        symbol: 'MNQ',
        quantity: 0,
        entry: { type: 'market' },
        target: { accounts: ['apex1'] },
      },
    });
  });

  it('refuses close without a symbol or with all', () => {
    expect(failed('/close').message).toBe('missing symbol');
    expect(failed('/close all').message).toContain('/flatten');
  });

  it('refuses entry options on flatten', () => {
    expect(failed('/flatten MNQ tp=20')).toEqual({
      code: 'usage',
      message: '/flatten takes no take-profit (tp=20)',
      usage: USAGE.flatten,
    });
  });
});

describe('other commands', () => {
  it('reads positions with a target', () => {
    expect(parsed('/positions account=apex1')).toEqual({
      name: 'positions',
      target: { accounts: ['apex1'] },
    });
    expect(parsed('/positions')).toEqual({ name: 'positions', target: {} });
  });

  it('reads the commands without arguments and refuses stray words', () => {
    for (const name of ['accounts', 'status', 'resume', 'link'] as const) {
      expect(parsed(`/${name}`)).toEqual({ name });
    }
    expect(failed('/status now')).toEqual({ code: 'usage', message: 'unexpected now', usage: USAGE.status });
  });

  it('keeps the whole halt reason, or null', () => {
    expect(parsed("/halt FOMC in 5 min, don't trade")).toEqual({
      name: 'halt',
      reason: "FOMC in 5 min, don't trade",
    });
    expect(parsed('/halt')).toEqual({ name: 'halt', reason: null });
  });

  it('reads help with and without a topic', () => {
    expect(parsed('/help')).toEqual({ name: 'help', topic: null });
    expect(parsed('/help /Buy')).toEqual({ name: 'help', topic: 'buy' });
    expect(failed('/help frobnicate').code).toBe('unknown_command');
  });

  it('reads subscribe and unsubscribe with an optional channel', () => {
    expect(parsed('/subscribe apex1')).toEqual({ name: 'subscribe', account: 'apex1', channel: null });
    expect(parsed('/unsubscribe apex1 #signals')).toEqual({
      name: 'unsubscribe',
      account: 'apex1',
      channel: '#signals',
    });
    expect(failed('/subscribe').message).toBe('missing account');
  });

  it('reads the three role forms', () => {
    expect(parsed('/role @bob trader')).toEqual({
      name: 'role',
      user: '@bob',
      role: 'trader',
      revoke: false,
    });
    expect(parsed('/role @bob -Trader')).toEqual({
      name: 'role',
      user: '@bob',
      role: 'trader',
      revoke: true,
    });
    expect(parsed('/role revoke @bob provider')).toEqual({
      name: 'role',
      user: '@bob',
      role: 'provider',
      revoke: true,
    });
  });

  it('refuses an unknown role, naming it', () => {
    expect(failed('/role @bob king').message).toBe(
      'unknown role king (expected admin, provider, trader, viewer)',
    );
    expect(failed('/role @bob').message).toBe('missing role');
  });

  it('refuses an unknown command with its own code', () => {
    expect(failed('/frobnicate 1')).toEqual({
      code: 'unknown_command',
      message: 'unknown command /frobnicate',
      usage: null,
    });
    expect(failed('   ').code).toBe('unknown_command');
  });
});

describe('bot addressing', () => {
  it('finds the bot a command is addressed to', () => {
    expect(addressedTo('/buy@OtherBot MNQ 1')).toBe('OtherBot');
    expect(addressedTo('/buy MNQ 1 @21500')).toBeNull();
    expect(addressedTo('hello @someone')).toBeNull();
  });

  it('strips its own bot name, case-insensitively', () => {
    expect(parsed('/buy@TradecastBot MNQ 1', { botName: 'tradecastbot' })).toEqual(parsed('/buy MNQ 1'));
    expect(parsed('/status@TradecastBot', { botName: '@TradecastBot' })).toEqual({ name: 'status' });
  });

  it('refuses a command addressed to another bot', () => {
    const error = failed('/buy@OtherBot MNQ 1', { botName: 'TradecastBot' });
    expect(error.code).toBe('usage');
    expect(error.message).toBe('command is addressed to @OtherBot');
  });
});

describe('help text and field parsers', () => {
  it('lists every command', () => {
    const text = helpText();
    for (const name of COMMANDS) expect(text).toContain(`/${name}:`);
  });

  it('has a usage line for every command', () => {
    for (const name of COMMANDS) expect(USAGE[name]).toMatch(new RegExp(`^/${name}\\b`));
  });

  it('parses slash-option values the same way as typed text', () => {
    expect(parsePriceSpec('80t', 'tp')).toEqual({ ok: true, value: { kind: 'ticks', value: 80 } });
    expect(parsePriceSpec('20pts', 'tp')).toEqual({ ok: true, value: { kind: 'points', value: 20 } });
    expect(parseQuantity('2')).toEqual({ ok: true, value: 2 });
    expect(failure(parseQuantity('1e3')).message).toBe('quantity must be a positive whole number (got 1e3)');
  });
});

describe('validateSignal', () => {
  const base: Signal = { action: 'buy', symbol: 'MNQ', quantity: 1, entry: { type: 'market' }, target: {} };

  it('refuses non-finite numbers', () => {
    expect(failure(validateSignal({ ...base, quantity: Number.NaN })).message).toContain(
      'positive whole number',
    );
    expect(
      failure(validateSignal({ ...base, takeProfit: { kind: 'points', value: Number.POSITIVE_INFINITY } }))
        .message,
    ).toBe('take-profit must be a finite number (got Infinity)');
    expect(failure(validateSignal({ ...base, entry: { type: 'limit', price: Number.NaN } })).message).toBe(
      'limit price must be a positive number (got NaN)',
    );
  });

  it('keeps percent brackets between 0 and 100', () => {
    expect(failure(validateSignal({ ...base, stopLoss: { kind: 'percent', value: 100 } })).message).toBe(
      'stop-loss percent must be between 0 and 100 (got 100)',
    );
    expect(validateSignal({ ...base, stopLoss: { kind: 'percent', value: 0.5 } }).ok).toBe(true);
  });

  it('compares absolute levels with each other when there is no entry price', () => {
    const error = failure(
      validateSignal({
        ...base,
        takeProfit: { kind: 'price', value: 21490 },
        stopLoss: { kind: 'price', value: 21500 },
      }),
    );
    expect(error.message).toBe('take-profit 21490 is below the stop-loss 21500 for a buy');
  });

  it('refuses brackets and quantity on a flatten', () => {
    expect(
      failure(
        validateSignal({ ...base, action: 'flatten', quantity: 0, stopLoss: { kind: 'points', value: 5 } }),
      ).message,
    ).toBe('flatten takes no take-profit or stop-loss');
    expect(failure(validateSignal({ ...base, action: 'close', quantity: 2 })).message).toBe(
      'close takes no quantity (got 2)',
    );
  });

  it('refuses a symbol no product matches', () => {
    expect(failure(validateSignal({ ...base, symbol: 'AAPL' })).code).toBe('unknown_symbol');
  });
});
