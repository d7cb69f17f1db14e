import { describe, expect, it } from 'vitest';
import {
  ALERT_USAGE,
  looksLikeSignal,
  parseAlert,
  parseKeyValueAlert,
  parsePlainAlert,
  parseTradingViewJson,
} from '../../../src/domain/alerts.js';
import type { UsageError } from '../../../src/domain/commands.js';
import type { Result } from '../../../src/domain/result.js';
import type { Signal } from '../../../src/domain/types.js';

function value(result: Result<Signal, UsageError>): Signal {
  if (!result.ok) throw new Error(`expected a signal, got: ${result.error.message}`);
  return result.value;
}

function failure(result: Result<Signal, UsageError>): UsageError {
  if (result.ok) throw new Error(`expected an error, got ${JSON.stringify(result.value)}`);
  return result.error;
}

describe('parseTradingViewJson (TradersPost shape)', () => {
  it('reads a market buy with point brackets', () => {
    const signal = value(
      parseTradingViewJson({
        ticker: 'MNQ1!',
        action: 'buy',
        sentiment: 'bullish',
        quantity: 2,
        price: 21500.25,
        takeProfit: { amount: 20 },
        stopLoss: { amount: 10 },
      }),
    );
    expect(signal).toEqual({
      action: 'buy',
      symbol: 'MNQ1!',
      quantity: 2,
      entry: { type: 'market' },
      takeProfit: { kind: 'points', value: 20 },
      stopLoss: { kind: 'points', value: 10 },
      referencePrice: 21500.25,
      target: {},
    });
  });

  it('reads a limit sell with absolute and percent brackets', () => {
    const signal = value(
      parseTradingViewJson({
        symbol: 'ES1!',
        action: 'SELL',
        quantity: '3',
        orderType: 'limit',
        limitPrice: 5400,
        takeProfit: { limitPrice: 5380 },
        stopLoss: { percent: 0.5 },
      }),
    );
    expect(signal).toMatchObject({
      action: 'sell',
      symbol: 'ES1!',
      quantity: 3,
      entry: { type: 'limit', price: 5400 },
      takeProfit: { kind: 'price', value: 5380 },
      stopLoss: { kind: 'percent', value: 0.5 },
      referencePrice: 5400,
    });
  });

  it('takes the limit price from price when limitPrice is absent', () => {
    expect(
      value(parseTradingViewJson({ ticker: 'MNQ', action: 'buy', orderType: 'limit', price: '21500' })).entry,
    ).toEqual({
      type: 'limit',
      price: 21500,
    });
  });

  it('defaults the quantity to 1', () => {
    expect(value(parseTradingViewJson({ ticker: 'MNQ', action: 'buy' })).quantity).toBe(1);
  });

  it('turns exit into close, and exit without a ticker into flatten all', () => {
    expect(value(parseTradingViewJson({ ticker: 'MNQ1!', action: 'exit', quantity: 2 }))).toEqual({
      action: 'close',
      symbol: 'MNQ1!',
      quantity: 0,
      entry: { type: 'market' },
      target: {},
    });
    expect(value(parseTradingViewJson({ action: 'exit' }))).toMatchObject({
      action: 'flatten',
      symbol: null,
    });
  });

  it('turns buy or sell with sentiment flat into close', () => {
    expect(value(parseTradingViewJson({ ticker: 'MNQ', action: 'sell', sentiment: 'flat' })).action).toBe(
      'close',
    );
  });

  it('reads add as buy or sell by sentiment', () => {
    expect(value(parseTradingViewJson({ ticker: 'MNQ', action: 'add', sentiment: 'bullish' })).action).toBe(
      'buy',
    );
    expect(value(parseTradingViewJson({ ticker: 'MNQ', action: 'add', sentiment: 'bearish' })).action).toBe(
      'sell',
    );
    expect(failure(parseTradingViewJson({ ticker: 'MNQ', action: 'add' })).message).toBe(
      'action add needs sentiment bullish or bearish',
    );
  });

  it('reads account and group targets', () => {
    expect(
      value(
        parseTradingViewJson({ ticker: 'MNQ', action: 'buy', account: ['apex1', 'apex2'], group: 'funded' }),
      ).target,
    ).toEqual({ accounts: ['apex1', 'apex2'], group: 'funded' });
  });

  it('explains what is wrong', () => {
    expect(failure(parseTradingViewJson({ action: 'buy' }))).toEqual({
      code: 'usage',
      message: 'missing ticker',
      usage: ALERT_USAGE.json,
    });
    expect(failure(parseTradingViewJson({ ticker: 'MNQ', action: 'hodl' })).message).toBe(
      'unknown action hodl (expected buy, sell, add or exit)',
    );
    expect(failure(parseTradingViewJson({ ticker: 'MNQ', action: 'buy', quantity: 1.5 })).message).toBe(
      'quantity must be a positive whole number (got 1.5)',
    );
    expect(failure(parseTradingViewJson({ ticker: 'MNQ', action: 'buy', takeProfit: {} })).message).toBe(
      'takeProfit: expected limitPrice, amount or percent',
    );
    expect(
      failure(parseTradingViewJson({ ticker: 'MNQ', action: 'buy', stopLoss: { amount: 'x' } })).message,
    ).toBe('stopLoss.amount must be a number (got x)');
    expect(failure(parseTradingViewJson({ ticker: 'XYZ', action: 'buy' })).code).toBe('unknown_symbol');
    expect(failure(parseTradingViewJson([1, 2])).message).toBe('alert must be a JSON object');
  });

  it('refuses what a Signal cannot express instead of approximating it', () => {
    expect(failure(parseTradingViewJson({ ticker: 'MNQ', action: 'cancel' })).message).toContain(
      'not supported',
    );
    expect(
      failure(parseTradingViewJson({ ticker: 'MNQ', action: 'sell', sentiment: 'bullish' })).message,
    ).toContain('partial exit');
    expect(
      failure(parseTradingViewJson({ ticker: 'MNQ', action: 'buy', orderType: 'stop' })).message,
    ).toContain('not supported');
  });

  it('refuses a limit buy whose take-profit is below the limit', () => {
    const error = failure(
      parseTradingViewJson({
        ticker: 'MNQ',
        action: 'buy',
        orderType: 'limit',
        limitPrice: 21500,
        takeProfit: { limitPrice: 21400 },
      }),
    );
    expect(error.message).toBe('take-profit 21400 is below the limit price 21500 for a buy');
    expect(error.usage).toBe(ALERT_USAGE.json);
  });
});

describe('parsePlainAlert', () => {
  it('reads TP and SL after an @ price as absolute prices', () => {
    expect(value(parsePlainAlert('BUY MNQ1! @ 21500.25 TP 21520 SL 21490'))).toEqual({
      action: 'buy',
      symbol: 'MNQ1!',
      quantity: 1,
      entry: { type: 'market' },
      takeProfit: { kind: 'price', value: 21520 },
      stopLoss: { kind: 'price', value: 21490 },
      referencePrice: 21500.25,
      target: {},
    });
  });

  it('reads TP and SL without a price as points', () => {
    expect(value(parsePlainAlert('BUY MNQ 2 TP 20 SL 10'))).toMatchObject({
      quantity: 2,
      takeProfit: { kind: 'points', value: 20 },
      stopLoss: { kind: 'points', value: 10 },
    });
  });

  it('reads TP and SL far from the @ price as points', () => {
    expect(value(parsePlainAlert('sell mnq @21500 tp=40 sl=80t'))).toMatchObject({
      action: 'sell',
      takeProfit: { kind: 'points', value: 40 },
      stopLoss: { kind: 'ticks', value: 80 },
    });
  });

  it('reads the quantity before the symbol', () => {
    expect(value(parsePlainAlert('SELL 3 ES'))).toMatchObject({ action: 'sell', symbol: 'ES', quantity: 3 });
  });

  it('makes a limit entry only with LIMIT', () => {
    expect(value(parsePlainAlert('BUY MNQ LIMIT 21500 TP 21520')).entry).toEqual({
      type: 'limit',
      price: 21500,
    });
    expect(value(parsePlainAlert('BUY LIMIT MNQ @ 21500')).entry).toEqual({ type: 'limit', price: 21500 });
  });

  it('reads FLATTEN and CLOSE', () => {
    expect(value(parsePlainAlert('FLATTEN MNQ'))).toMatchObject({
      action: 'flatten',
      symbol: 'MNQ',
      quantity: 0,
    });
    expect(value(parsePlainAlert('FLATTEN'))).toMatchObject({ action: 'flatten', symbol: null });
    expect(value(parsePlainAlert('FLATTEN ALL'))).toMatchObject({ action: 'flatten', symbol: null });
    expect(value(parsePlainAlert('CLOSE MNQ'))).toMatchObject({
      action: 'close',
      symbol: 'MNQ',
      quantity: 0,
    });
  });

  it('explains what is wrong', () => {
    expect(failure(parsePlainAlert('BUY MNQ now')).message).toBe('unexpected now');
    expect(failure(parsePlainAlert('BUY XYZ 2'))).toEqual({
      code: 'unknown_symbol',
      message: 'unknown symbol XYZ',
      usage: ALERT_USAGE.plain,
    });
    expect(failure(parsePlainAlert('BUY MNQ 1.5')).message).toBe(
      'quantity must be a positive whole number (got 1.5)',
    );
    expect(failure(parsePlainAlert('BUY MNQ TP abc')).message).toBe(
      'tp: expected points like 20, ticks like 80t or a price like @21520.25 (got abc)',
    );
    expect(failure(parsePlainAlert('CLOSE MNQ 2')).message).toBe('CLOSE takes only a symbol (got 2)');
    expect(failure(parsePlainAlert('HELLO MNQ')).message).toBe(
      'expected BUY, SELL, FLATTEN or CLOSE first (got HELLO)',
    );
  });

  it('refuses a take-profit level on the losing side of the alert price', () => {
    expect(failure(parsePlainAlert('BUY MNQ @ 21500 TP 21480')).message).toBe(
      'take-profit 21480 is below the alert price 21500 for a buy',
    );
  });
});

describe('parseKeyValueAlert', () => {
  it('reads a CrossTrade-style limit entry', () => {
    expect(
      value(parseKeyValueAlert('action=buy; symbol=MNQ1!; qty=2; tp=20; sl=10; price=21500; type=limit;')),
    ).toEqual({
      action: 'buy',
      symbol: 'MNQ1!',
      quantity: 2,
      entry: { type: 'limit', price: 21500 },
      takeProfit: { kind: 'points', value: 20 },
      stopLoss: { kind: 'points', value: 10 },
      referencePrice: 21500,
      target: {},
    });
  });

  it('reads a market entry with price levels near the alert price', () => {
    expect(value(parseKeyValueAlert('ACTION=SELL; Symbol=ES1!; price=5400; tp=5380; sl=5410'))).toMatchObject(
      {
        action: 'sell',
        entry: { type: 'market' },
        takeProfit: { kind: 'price', value: 5380 },
        stopLoss: { kind: 'price', value: 5410 },
      },
    );
  });

  it('reads NinjaTrader instruments, accounts and ignorable fields', () => {
    expect(
      value(
        parseKeyValueAlert('command=PLACE; account=Sim101; instrument=NQ 12-26; action=BUY; qty=1; tif=DAY;'),
      ),
    ).toMatchObject({
      action: 'buy',
      symbol: 'NQZ26',
      target: { accounts: ['Sim101'] },
    });
  });

  it('reads exits', () => {
    expect(value(parseKeyValueAlert('command=CLOSEPOSITION; instrument=MNQ1!'))).toMatchObject({
      action: 'close',
      symbol: 'MNQ1!',
    });
    expect(value(parseKeyValueAlert('action=flatten;'))).toMatchObject({ action: 'flatten', symbol: null });
    expect(value(parseKeyValueAlert('action=exit'))).toMatchObject({ action: 'flatten', symbol: null });
  });

  it('explains what is wrong', () => {
    expect(failure(parseKeyValueAlert('action=buy; symbol=MNQ; colour=red')).message).toBe(
      'unknown key colour',
    );
    expect(failure(parseKeyValueAlert('action=buy; symbol=MNQ; qty=1; qty=2')).message).toBe('duplicate qty');
    expect(failure(parseKeyValueAlert('action=buy; symbol=MNQ; type=limit')).message).toBe(
      'type=limit needs price or limit_price',
    );
    expect(failure(parseKeyValueAlert('symbol=MNQ; qty=2')).message).toBe('missing action');
    expect(failure(parseKeyValueAlert('action=buy; qty=2')).message).toBe('missing symbol');
    expect(failure(parseKeyValueAlert('action=buy; symbol=MNQ; qty=0')).message).toBe(
      'quantity must be a positive whole number (got 0)',
    );
    expect(failure(parseKeyValueAlert('action=buy; symbol=MNQ; junk')).message).toBe(
      'expected key=value (got junk)',
    );
  });
});

describe('parseAlert', () => {
  it('dispatches a parsed JSON body', () => {
    expect(value(parseAlert({ ticker: 'MNQ', action: 'buy', quantity: 2 }))).toMatchObject({
      action: 'buy',
      quantity: 2,
    });
  });

  it('dispatches JSON text', () => {
    expect(value(parseAlert(' {"ticker":"MNQ1!","action":"exit"} '))).toMatchObject({
      action: 'close',
      symbol: 'MNQ1!',
    });
  });

  it('dispatches key=value pairs', () => {
    expect(value(parseAlert('action=buy; symbol=MNQ; qty=3'))).toMatchObject({ action: 'buy', quantity: 3 });
  });

  it('dispatches plain text', () => {
    expect(value(parseAlert('SELL 3 ES'))).toMatchObject({ action: 'sell', quantity: 3 });
  });

  it('dispatches slash commands to the command grammar, where @ is a limit', () => {
    expect(value(parseAlert('/buy MNQ 1 @21500 tp=20')).entry).toEqual({ type: 'limit', price: 21500 });
    expect(value(parseAlert('BUY MNQ @ 21500 TP 20')).entry).toEqual({ type: 'market' });
  });

  it('names the problem when nothing fits', () => {
    expect(failure(parseAlert('{"ticker": ')).message).toMatch(/^alert looks like JSON but does not parse/);
    expect(failure(parseAlert('/status')).message).toBe('/status is not a trading command');
    expect(failure(parseAlert('')).message).toBe('empty alert');
    expect(failure(parseAlert(42)).message).toBe('alert must be text or a JSON object');
    expect(failure(parseAlert('good morning all')).message).toBe(
      'expected BUY, SELL, FLATTEN or CLOSE first (got good)',
    );
  });
});

describe('looksLikeSignal', () => {
  it.each([
    'BUY MNQ now',
    'buy mnq 2 tp=20',
    'Going long ES here',
    'SELL 3 ES',
    'FLATTEN',
    'flatten all',
    'close MNQ1!',
    'Buy CME_MINI:MNQ1! @ 21500',
    '/buy',
    'action=buy; symbol=MNQ1!',
  ])('is true for %j', (text) => {
    expect(looksLikeSignal(text)).toBe(true);
  });

  it.each(['good morning all', 'anyone trading MNQ today?', 'I would buy that', 'close call yesterday', ''])(
    'is false for %j',
    (text) => {
      expect(looksLikeSignal(text)).toBe(false);
    },
  );
});
