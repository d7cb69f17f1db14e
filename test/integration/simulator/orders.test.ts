import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ManualClock,
  type SimUserOption,
  type Simulator,
  startSimulator,
} from '../../fakes/tradovate/server.js';
import { login, rest } from './client.js';

// 2026-01-05: the MNQ front month is March 2026.
const FRONT = 'MNQH6';

const ALICE: SimUserOption = {
  name: 'alice',
  password: 'alice-pw',
  userId: 11,
  accounts: [
    { id: 1101, name: 'ALICE1' },
    { id: 1102, name: 'ALICE2' },
  ],
};
const BOB: SimUserOption = {
  name: 'bob',
  password: 'bob-pw',
  userId: 12,
  accounts: [{ id: 1201, name: 'BOB1' }],
};

let sim: Simulator;
let token: string;

beforeEach(async () => {
  sim = await startSimulator({ users: [ALICE, BOB], clock: new ManualClock(), startPrices: { MNQ: 21500 } });
  token = (await login(sim, ALICE)).accessToken;
});

afterEach(async () => {
  await sim.close();
});

const call = (endpoint: string, body?: unknown) => rest(sim, endpoint, { token, body });
const market = (
  accountId: number,
  action: 'Buy' | 'Sell',
  orderQty: number,
  extra: Record<string, unknown> = {},
) =>
  call('order/placeorder', {
    accountSpec: 'x',
    accountId,
    action,
    symbol: FRONT,
    orderQty,
    orderType: 'Market',
    isAutomated: true,
    ...extra,
  });

describe('entity endpoints', () => {
  it('lists only the token user’s accounts and finds contracts and products', async () => {
    const accounts = await call('account/list');
    expect(accounts.body.map((a: { id: number }) => a.id)).toEqual([1101, 1102]);
    expect((await call('account/find?name=ALICE2')).body.id).toBe(1102);

    const contract = await call(`contract/find?name=${FRONT}`);
    expect(contract.body).toMatchObject({
      name: FRONT,
      id: expect.any(Number),
      contractMaturityId: expect.any(Number),
    });
    expect((await call(`contract/item?id=${contract.body.id}`)).body).toEqual(contract.body);
    expect((await call('contract/find?name=MNQ')).status).toBe(404);
    const suggested = await call('contract/suggest?t=MNQ&l=2');
    expect(suggested.body).toHaveLength(2);
    expect(suggested.body[0].name).toBe(FRONT);
    expect((await call('product/find?name=MNQ')).body).toMatchObject({ tickSize: 0.25, valuePerPoint: 2 });
  });

  it('answers 404 for unknown ids and for another user’s entities', async () => {
    expect((await call('order/item?id=424242')).status).toBe(404);
    expect((await call('account/item?id=999999')).status).toBe(404);
    expect((await call('account/item?id=1201')).status).toBe(404);
    expect((await call('position/item?id=1')).status).toBe(404);
  });

  it('matches endpoint names case-insensitively and accepts GET and POST alike', async () => {
    const lower = await rest(sim, 'account/list', { token, method: 'GET' });
    const mixed = await rest(sim, 'Account/List', { token, method: 'POST', body: {} });
    const upper = await rest(sim, 'ACCOUNT/LIST', { token, method: 'POST' });
    expect(lower.status).toBe(200);
    expect(mixed.body).toEqual(lower.body);
    expect(upper.body).toEqual(lower.body);
    const placed = await call('order/placeOrder', {
      accountId: 1101,
      action: 'Buy',
      symbol: FRONT,
      orderQty: 1,
      orderType: 'Market',
    });
    expect(placed.body.orderId).toEqual(expect.any(Number));
    expect(sim.requests.count({ endpoint: 'order/placeorder', userName: 'alice', transport: 'rest' })).toBe(
      1,
    );
  });
});

describe('order/placeorder', () => {
  it('fills a market order and records the command with its clOrdId and automation flag', async () => {
    const placed = await market(1101, 'Buy', 2, { clOrdId: 'tc.sig1.1101.e0' });
    const orderId = placed.body.orderId;
    expect((await call(`order/item?id=${orderId}`)).body).toMatchObject({
      id: orderId,
      accountId: 1101,
      action: 'Buy',
      ordStatus: 'Filled',
    });
    const commands = await call(`command/deps?masterid=${orderId}`);
    expect(commands.body).toEqual([
      expect.objectContaining({ orderId, clOrdId: 'tc.sig1.1101.e0', commandType: 'New', isAutomated: true }),
    ]);
    const versions = await call(`orderVersion/deps?masterid=${orderId}`);
    expect(versions.body).toEqual([
      expect.objectContaining({
        orderQty: 2,
        orderType: 'Market',
        text: 'tc.sig1.1101.e0',
        id: commands.body[0].id,
      }),
    ]);
    const fills = await call('fill/list');
    expect(fills.body).toEqual([expect.objectContaining({ orderId, qty: 2, price: 21500, action: 'Buy' })]);
    const reports = await call(`executionReport/deps?masterid=${commands.body[0].id}`);
    expect(reports.body.map((r: { execType: string }) => r.execType)).toEqual(['New', 'Trade']);
    const positions = await call('position/deps?masterid=1101');
    expect(positions.body).toEqual([
      expect.objectContaining({ accountId: 1101, netPos: 2, netPrice: 21500 }),
    ]);
    expect(sim.positions(1101)[0]?.netPos).toBe(2);
  });

  it('refuses an account of another user with Unauthorized, and an unknown symbol with InvalidContract', async () => {
    const foreign = await market(1201, 'Buy', 1);
    expect(foreign.status).toBe(200);
    expect(foreign.body).toEqual({ failureReason: 'Unauthorized', failureText: 'Access is denied' });
    const root = await call('order/placeorder', {
      accountId: 1101,
      action: 'Buy',
      symbol: 'MNQ',
      orderQty: 1,
      orderType: 'Market',
    });
    expect(root.body.failureReason).toBe('InvalidContract');
    const bogus = await call('order/placeorder', {
      accountId: 1101,
      action: 'Buy',
      symbol: 'ZZZZ9',
      orderQty: 1,
      orderType: 'Market',
    });
    expect(bogus.body.failureReason).toBe('InvalidContract');
    expect(sim.exchange.orders('1201')).toHaveLength(0);
  });

  it('returns the first order for a clOrdId seen twice in the same account', async () => {
    const first = await market(1101, 'Buy', 1, { clOrdId: 'dup-1' });
    const again = await market(1101, 'Buy', 1, { clOrdId: 'dup-1' });
    const otherAccount = await market(1102, 'Buy', 1, { clOrdId: 'dup-1' });
    expect(again.body.orderId).toBe(first.body.orderId);
    expect(otherAccount.body.orderId).not.toBe(first.body.orderId);
    expect(sim.orders(1101)).toHaveLength(1);
    expect(sim.positions(1101)[0]?.netPos).toBe(1);
  });

  it('order/list returns the orders of every account of the user, order/deps only the account’s', async () => {
    const a = await market(1101, 'Buy', 1);
    const b = await market(1102, 'Sell', 1);
    const bobToken = (await login(sim, BOB)).accessToken;
    await rest(sim, 'order/placeorder', {
      token: bobToken,
      body: { accountId: 1201, action: 'Buy', symbol: FRONT, orderQty: 1, orderType: 'Market' },
    });
    const all = await call('order/list');
    expect(all.body.map((o: { id: number }) => o.id).sort()).toEqual([a.body.orderId, b.body.orderId].sort());
    const deps = await call('order/deps?masterid=1101');
    expect(deps.body.map((o: { id: number }) => o.id)).toEqual([a.body.orderId]);
    const ldeps = await call('order/ldeps?masterids=1101,1102');
    expect(ldeps.body).toHaveLength(2);
  });
});

describe('order/placeoso', () => {
  it('creates the entry and both bracket legs at once; the legs work after the fill and cancel each other', async () => {
    const res = await call('order/placeoso', {
      accountId: 1101,
      action: 'Buy',
      symbol: FRONT,
      orderQty: 1,
      orderType: 'Limit',
      price: 21490,
      isAutomated: true,
      bracket1: { action: 'Sell', orderType: 'Limit', price: 21520, clOrdId: 'tp-1' },
      bracket2: { action: 'Sell', orderType: 'Stop', stopPrice: 21470 },
    });
    const { orderId, oso1Id, oso2Id } = res.body;
    expect([orderId, oso1Id, oso2Id].every((x) => typeof x === 'number')).toBe(true);
    const legs = () => sim.orders(1101).filter((o) => o.parentId === orderId);
    expect(legs().map((o) => [o.id, o.ordStatus])).toEqual([
      [oso1Id, 'Suspended'],
      [oso2Id, 'Suspended'],
    ]);
    expect(legs()[0]).toMatchObject({ orderType: 'Limit', price: 21520, clOrdId: 'tp-1' });

    sim.setPrice('MNQ', 21490);
    expect(legs().map((o) => o.ordStatus)).toEqual(['Working', 'Working']);
    sim.setPrice('MNQ', 21520);
    expect(legs().map((o) => o.ordStatus)).toEqual(['Filled', 'Canceled']);
    expect(sim.positions(1101)[0]?.netPos).toBe(0);
  });
});

describe('orderStrategy/startorderstrategy', () => {
  it('starts a bracket strategy whose legs appear only after the entry fills, priced from the fill', async () => {
    const res = await call('orderStrategy/startOrderStrategy', {
      accountId: 1101,
      symbol: FRONT,
      orderStrategyTypeId: 2,
      action: 'Buy',
      params: JSON.stringify({
        entryVersion: { orderQty: 2, orderType: 'Limit', price: 21490 },
        brackets: [{ qty: 2, profitTarget: 5, stopLoss: -2.5, trailingStop: false }],
      }),
      uuid: 'strategy-1',
    });
    expect(res.body.orderStrategy).toMatchObject({
      id: expect.any(Number),
      status: 'ActiveStrategy',
      accountId: 1101,
    });
    expect(sim.orders(1101)).toHaveLength(1);

    sim.setPrice('MNQ', 21490);
    const [entry, tp, sl] = sim.orders(1101);
    expect(entry).toMatchObject({ ordStatus: 'Filled', orderQty: 2 });
    expect(tp).toMatchObject({
      action: 'Sell',
      orderType: 'Limit',
      price: 21495,
      orderQty: 2,
      ordStatus: 'Working',
    });
    expect(sl).toMatchObject({ action: 'Sell', orderType: 'Stop', stopPrice: 21487.5, ordStatus: 'Working' });
    const links = await call(`orderStrategyLink/deps?masterid=${res.body.orderStrategy.id}`);
    expect(links.body).toHaveLength(3);

    const again = await call('orderStrategy/startorderstrategy', {
      accountId: 1101,
      symbol: FRONT,
      orderStrategyTypeId: 2,
      action: 'Buy',
      params: JSON.stringify({
        entryVersion: { orderQty: 2, orderType: 'Limit', price: 21490 },
        brackets: [{ qty: 2, profitTarget: 5, stopLoss: -2.5 }],
      }),
      uuid: 'strategy-1',
    });
    expect(again.body.orderStrategy.id).toBe(res.body.orderStrategy.id);

    sim.setPrice('MNQ', 21495);
    const strategies = await call('orderStrategy/deps?masterid=1101');
    expect(strategies.body[0].status).toBe('ExecutionFinished');
  });

  it('refuses bracket offsets on the wrong side of the entry', async () => {
    const res = await call('orderstrategy/startorderstrategy', {
      accountId: 1101,
      symbol: FRONT,
      orderStrategyTypeId: 2,
      action: 'Sell',
      params: JSON.stringify({
        entryVersion: { orderQty: 1, orderType: 'Market' },
        brackets: [{ qty: 1, profitTarget: 5, stopLoss: -5 }],
      }),
    });
    expect(res.body.errorText).toMatch(/wrong side/);
    expect(sim.orders(1101)).toHaveLength(0);
  });
});

describe('modify, cancel, liquidate', () => {
  it('modifies a resting limit into a new version, cancels it, and refuses a second cancel', async () => {
    const placed = await call('order/placeorder', {
      accountId: 1101,
      action: 'Buy',
      symbol: FRONT,
      orderQty: 1,
      orderType: 'Limit',
      price: 21400,
    });
    const orderId = placed.body.orderId;
    const modified = await call('order/modifyorder', {
      orderId,
      orderQty: 3,
      orderType: 'Limit',
      price: 21410,
      isAutomated: true,
    });
    expect(modified.body.commandId).toEqual(expect.any(Number));
    const versions = await call(`orderVersion/deps?masterid=${orderId}`);
    expect(versions.body.map((v: { orderQty: number; price: number }) => [v.orderQty, v.price])).toEqual([
      [1, 21400],
      [3, 21410],
    ]);
    expect((await call('order/cancelorder', { orderId })).body.commandId).toEqual(expect.any(Number));
    expect(sim.orders(1101)[0]?.ordStatus).toBe('Canceled');
    expect((await call('order/cancelorder', { orderId })).body.failureReason).toBe('TooLate');
    const commands = await call(`command/deps?masterid=${orderId}`);
    expect(commands.body.map((c: { commandType: string }) => c.commandType)).toEqual([
      'New',
      'Modify',
      'Cancel',
      'Cancel',
    ]);
  });

  it('refuses to touch another user’s order', async () => {
    const bobToken = (await login(sim, BOB)).accessToken;
    const bobs = await rest(sim, 'order/placeorder', {
      token: bobToken,
      body: { accountId: 1201, action: 'Buy', symbol: FRONT, orderQty: 1, orderType: 'Limit', price: 21000 },
    });
    const res = await call('order/cancelorder', { orderId: bobs.body.orderId });
    expect(res.body).toEqual({ failureReason: 'Unauthorized', failureText: 'Access is denied' });
    expect(sim.orders(1201)[0]?.ordStatus).toBe('Working');
  });

  it('liquidates a position: cancels the contract’s working orders and closes at market', async () => {
    await market(1101, 'Buy', 2);
    await call('order/placeorder', {
      accountId: 1101,
      action: 'Sell',
      symbol: FRONT,
      orderQty: 2,
      orderType: 'Limit',
      price: 21600,
    });
    const contractId = sim.positions(1101)[0]!.contractId;
    const res = await call('order/liquidateposition', { accountId: 1101, contractId, admin: false });
    expect(res.body.orderId).toEqual(expect.any(Number));
    expect(sim.positions(1101)[0]?.netPos).toBe(0);
    expect(sim.orders(1101).map((o) => o.ordStatus)).toEqual(['Filled', 'Canceled', 'Filled']);
  });
});
