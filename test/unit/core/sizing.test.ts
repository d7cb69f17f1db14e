import { describe, expect, it } from 'vitest';
import { bracketLevel, gate, insideWindow, mapSymbol, sizeFor } from '../../../src/domain/sizing.js';
import type { Account, Signal } from '../../../src/domain/types.js';

const account = (over: Partial<Account> = {}): Account => ({
  id: '1',
  credentialId: 'c',
  ownerUserId: 'u',
  brokerAccountId: 'A1',
  name: 'A1',
  broker: 'paper',
  enabled: true,
  multiplier: 1,
  maxQuantity: null,
  maxPosition: null,
  symbolMap: {},
  group: null,
  tradingWindow: null,
  ...over,
});
const buy: Signal = { action: 'buy', symbol: 'MNQ', quantity: 2, entry: { type: 'market' }, target: {} };
const flatten: Signal = {
  action: 'flatten',
  symbol: null,
  quantity: 0,
  entry: { type: 'market' },
  target: {},
};

describe('sizing', () => {
  it('multiplies, rounds down and caps at the account maximum', () => {
    expect(sizeFor(account({ multiplier: 3 }), 2)).toMatchObject({ ok: true, quantity: 6 });
    expect(sizeFor(account({ multiplier: 0.5 }), 3)).toMatchObject({ ok: true, quantity: 1 });
    expect(sizeFor(account({ multiplier: 5, maxQuantity: 4 }), 2)).toMatchObject({ ok: true, quantity: 4 });
  });
  it('zero after sizing is a skip with the reason', () => {
    const r = sizeFor(account({ multiplier: 0.25 }), 1);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatch(/^size: .*rounds to 0/);
  });
  it('the symbol map turns NQ into MNQ', () => {
    expect(mapSymbol(account({ symbolMap: { NQ: 'MNQ' } }), 'NQ')).toBe('MNQ');
    expect(mapSymbol(account(), 'ES')).toBe('ES');
  });
});

describe('gates', () => {
  const now = new Date('2026-11-26T15:00:00Z');
  it('a disabled account is skipped for entries and exits', () => {
    expect(gate(account({ enabled: false }), buy, { halted: false, now })).toMatch(/^disabled/);
    expect(gate(account({ enabled: false }), flatten, { halted: false, now })).toMatch(/^disabled/);
  });
  it('a halt refuses entries but lets exits through', () => {
    expect(gate(account(), buy, { halted: true, now })).toMatch(/^halted/);
    expect(gate(account(), flatten, { halted: true, now })).toBeNull();
  });
  it('entries outside the trading window are refused, exits allowed', () => {
    const w = { timeZone: 'America/New_York', start: '09:30', end: '16:00' };
    expect(gate(account({ tradingWindow: w }), buy, { halted: false, now })).toBeNull(); // 10:00 ET
    const late = new Date('2026-11-26T22:00:00Z'); // 17:00 ET
    expect(gate(account({ tradingWindow: w }), buy, { halted: false, now: late })).toMatch(/^window/);
    expect(gate(account({ tradingWindow: w }), flatten, { halted: false, now: late })).toBeNull();
  });
  it('an overnight window wraps midnight', () => {
    const w = { timeZone: 'UTC', start: '22:00', end: '02:00' };
    expect(insideWindow(w, new Date('2026-11-26T23:00:00Z'))).toBe(true);
    expect(insideWindow(w, new Date('2026-11-26T01:59:00Z'))).toBe(true);
    expect(insideWindow(w, new Date('2026-11-26T12:00:00Z'))).toBe(false);
  });
});

describe('bracket levels', () => {
  it('points become ticks, prices stay prices, percent needs a reference', () => {
    expect(bracketLevel({ kind: 'points', value: 20 }, 0.25, undefined)).toEqual({
      kind: 'offset',
      ticks: 80,
    });
    expect(bracketLevel({ kind: 'ticks', value: 80 }, 0.25, undefined)).toEqual({
      kind: 'offset',
      ticks: 80,
    });
    expect(bracketLevel({ kind: 'price', value: 21520.25 }, 0.25, undefined)).toEqual({
      kind: 'price',
      price: 21520.25,
    });
    expect(bracketLevel({ kind: 'percent', value: 1 }, 0.25, undefined)).toBeNull();
    expect(bracketLevel({ kind: 'percent', value: 0.1 }, 0.25, 20000)).toEqual({ kind: 'offset', ticks: 80 });
  });
});
