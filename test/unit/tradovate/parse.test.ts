import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  clientOrderIds,
  isWorking,
  latestVersions,
  ofAccount,
  parseAccessTokenResponse,
  parseAccountList,
  parseCommandList,
  parseCommandResult,
  parseContract,
  parseContractList,
  parseFillList,
  parseOAuthTokenResponse,
  parseOrderList,
  parseOrderStrategyLinkList,
  parseOrderVersionList,
  parsePenalty,
  parsePlaceResult,
  parsePositionList,
  parseProduct,
  parsePropsEvent,
  parseShutdownEvent,
  parseStrategyResponse,
  strategyEntryOrderId,
  summarizeFills,
  toBrokerOrder,
  toBrokerPosition,
} from '../../../src/brokers/tradovate/parse.js';

function fixture(name: string): unknown {
  return JSON.parse(readFileSync(new URL(`../../fixtures/tradovate/${name}.json`, import.meta.url), 'utf8'));
}

function value<T>(r: { ok: true; value: T } | { ok: false; error: { message: string } }): T {
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
}

describe('Tradovate payload parsing', () => {
  it('reads an access token with its expiry from expirationTime', () => {
    const answer = value(parseAccessTokenResponse(fixture('access-token')));
    expect(answer).toEqual({
      kind: 'token',
      accessToken: 'eyJhbGciOiJIUzI1NiJ9.fixture-access.sig',
      expiresAt: new Date('2026-01-05T16:20:00.000Z'),
      userId: 5001,
      name: 'demo',
    });
  });

  it('reads a login refusal carried as errorText in a 200', () => {
    expect(value(parseAccessTokenResponse(fixture('access-token-error')))).toEqual({
      kind: 'error',
      text: 'Incorrect username or password. Please try again, noting that passwords are case-sensitive.',
    });
  });

  it('reads a penalty ticket, and a captcha penalty, instead of a token', () => {
    expect(parsePenalty(fixture('penalty-ticket'))).toEqual({
      ticket: 'eyJ0aWNrZXQiOiJmaXh0dXJlIn0',
      waitSeconds: 15,
      captcha: false,
      message: 'Rate limit exceeded: more than 180 requests per hour',
    });
    expect(value(parseAccessTokenResponse(fixture('penalty-captcha')))).toMatchObject({
      kind: 'penalty',
      penalty: { captcha: true, waitSeconds: 3600 },
    });
    expect(parsePenalty(fixture('place-order'))).toBeNull();
    expect(parsePenalty([])).toBeNull();
  });

  it('refuses a token answer without an expiry rather than inventing one', () => {
    const r = parseAccessTokenResponse({ accessToken: 'x' });
    expect(r.ok).toBe(false);
  });

  it('reads OAuth tokens with expiry relative to now, and OAuth errors carried in a 200', () => {
    const now = Date.parse('2026-01-05T15:00:00Z');
    expect(value(parseOAuthTokenResponse(fixture('oauth-token'), now))).toEqual({
      kind: 'token',
      accessToken: 'eyJhbGciOiJIUzI1NiJ9.fixture-oauth.sig',
      expiresAt: new Date(now + 5400 * 1000),
      refreshToken: 'rt-fixture-1',
      refreshExpiresAt: new Date(now + 93600 * 1000),
    });
    expect(value(parseOAuthTokenResponse(fixture('oauth-error'), now))).toEqual({
      kind: 'error',
      error: 'invalid_token',
      description: 'The refresh token is invalid or expired',
    });
  });

  it('reads accounts with their active flag', () => {
    expect(value(parseAccountList(fixture('account-list')))).toEqual([
      { id: 700001, name: 'DEMO700001', active: true, userId: 5001 },
      { id: 700002, name: 'DEMO700002', active: false, userId: 5001 },
    ]);
  });

  it('reads the documented contract and product examples, and an empty find as no contract', () => {
    expect(value(parseContract(fixture('contract')))).toEqual({
      id: 2710963,
      name: 'ESM2',
      contractMaturityId: 46104,
    });
    expect(value(parseContract(null))).toBeNull();
    expect(value(parseContract({}))).toBeNull();
    expect(value(parseContractList(fixture('contract-suggest'))).map((c) => c.name)).toEqual([
      'MNQH6',
      'MNQM6',
    ]);
    expect(value(parseProduct(fixture('product')))).toEqual({
      id: 814,
      name: 'NQ',
      tickSize: 0.25,
      valuePerPoint: 20,
    });
  });

  it('keeps an order with an unknown status readable instead of failing the whole list', () => {
    const orders = value(parseOrderList(fixture('order-list-mixed')));
    expect(orders).toHaveLength(6);
    expect(orders.find((o) => o.id === 310000040)?.ordStatus).toBe('Unknown');
  });

  it('drops every order and position of another account', () => {
    const orders = value(parseOrderList(fixture('order-list-mixed')));
    expect(ofAccount(orders, 700001).map((o) => o.id)).toEqual([310000011, 310000010, 310000012, 310000040]);
    const positions = value(parsePositionList(fixture('positions')));
    expect(ofAccount(positions, 700001).map((p) => p.id)).toEqual([710000001, 710000002]);
  });

  it('takes the highest version id as the current version and the New command as the client id', () => {
    const latest = latestVersions(value(parseOrderVersionList(fixture('order-versions'))));
    expect(latest.get(310000011)).toMatchObject({ id: 310000050, orderQty: 1, price: 21520 });
    const ids = clientOrderIds(value(parseCommandList(fixture('commands'))));
    expect(ids.get(310000011)).toBe('tc.sig1.a1.t1');
    expect(ids.has(310000012)).toBe(false);
  });

  it('maps an order, its version and fills onto the port, averaging active fills only', () => {
    const orders = value(parseOrderList(fixture('order-list-mixed')));
    const entry = orders.find((o) => o.id === 310000010)!;
    const fills = value(parseFillList(fixture('fills')));
    expect(summarizeFills(fills)).toEqual({ quantity: 2, averagePrice: 21500.5 });
    const mapped = toBrokerOrder(entry, {
      version: {
        id: 310000010,
        orderId: 310000010,
        orderQty: 2,
        orderType: 'Market',
        price: null,
        stopPrice: null,
        text: null,
      },
      contractName: 'MNQH6',
      clientOrderId: 'tc.sig1.a1.e0',
      fills,
    });
    expect(mapped).toEqual({
      orderId: '310000010',
      clientOrderId: 'tc.sig1.a1.e0',
      brokerAccountId: '700001',
      contract: 'MNQH6',
      side: 'buy',
      type: 'market',
      quantity: 2,
      filledQuantity: 2,
      price: null,
      stopPrice: null,
      status: 'filled',
      averageFillPrice: 21500.5,
      parentOrderId: null,
    });
  });

  it('shows a suspended bracket leg as pending and still working at the venue', () => {
    const orders = value(parseOrderList(fixture('order-list-mixed')));
    const leg = orders.find((o) => o.id === 310000012)!;
    expect(isWorking(leg.ordStatus)).toBe(true);
    const version = latestVersions(value(parseOrderVersionList(fixture('order-versions')))).get(leg.id)!;
    expect(toBrokerOrder(leg, { version, contractName: 'MNQH6', clientOrderId: null })).toMatchObject({
      status: 'pending',
      type: 'stop',
      stopPrice: 21490,
      side: 'sell',
      parentOrderId: '310000010',
    });
    expect(isWorking('Filled')).toBe(false);
  });

  it('maps positions and leaves flat ones out', () => {
    const positions = value(parsePositionList(fixture('positions')));
    expect(toBrokerPosition(positions[0]!, 'MNQH6')).toEqual({
      brokerAccountId: '700001',
      contract: 'MNQH6',
      netQuantity: 2,
      averagePrice: 21500,
    });
    expect(toBrokerPosition(positions[1]!, 'MNQM6')).toBeNull();
  });

  it('reads placement results and failures carried in a 200', () => {
    expect(value(parsePlaceResult(fixture('place-order')))).toEqual({
      kind: 'placed',
      orderId: 310000010,
      oso1Id: null,
      oso2Id: null,
    });
    expect(value(parsePlaceResult(fixture('place-oso')))).toEqual({
      kind: 'placed',
      orderId: 310000010,
      oso1Id: 310000011,
      oso2Id: 310000012,
    });
    expect(value(parsePlaceResult(fixture('place-order-failure')))).toEqual({
      kind: 'failed',
      reason: 'UnknownReason',
      text: 'Access is denied',
    });
    expect(value(parseCommandResult(fixture('command-result')))).toEqual({
      kind: 'accepted',
      commandId: 310000050,
    });
    expect(value(parseCommandResult(fixture('command-failure')))).toEqual({
      kind: 'failed',
      reason: 'TooLate',
      text: 'Order is not working',
    });
  });

  it('reads a started bracket strategy, its refusal, and its entry among the links', () => {
    expect(value(parseStrategyResponse(fixture('strategy-started')))).toMatchObject({
      kind: 'started',
      strategy: { id: 810000001, uuid: 'tc.sig2.a1.e0', status: 'ActiveStrategy' },
    });
    expect(value(parseStrategyResponse(fixture('strategy-error')))).toEqual({
      kind: 'failed',
      text: 'Unknown contract MNQX9',
    });
    expect(strategyEntryOrderId(value(parseOrderStrategyLinkList(fixture('strategy-links'))))).toBe(
      310000101,
    );
  });

  it('reads props events with one entity or an array, and shutdown events', () => {
    const one = fixture('props-order') as { d: unknown };
    expect(value(parsePropsEvent(one.d))).toMatchObject({
      entityType: 'order',
      eventType: 'Created',
      entities: [{ id: 210518, ordStatus: 'PendingNew' }],
    });
    const many = fixture('props-array') as { d: unknown };
    expect(value(parsePropsEvent(many.d)).entities).toHaveLength(2);
    const shutdown = fixture('shutdown') as { d: unknown };
    expect(parseShutdownEvent(shutdown.d)).toEqual({
      reasonCode: 'ConnectionQuotaReached',
      reason: 'Too many connections for this user',
    });
  });

  it('reports a payload of the wrong shape as a problem, not an exception', () => {
    const r = parseOrderList({ not: 'a list' });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.code).toBe('unexpected_payload');
    expect(parsePlaceResult('Access is denied').ok).toBe(false);
  });
});
