import { describe, expect, it } from 'vitest';
import {
  type ExchangeEvent,
  type ExchangeResult,
  nextPosition,
  PaperExchange,
  type PlaceOrderRequest,
} from '../../../src/brokers/paper/exchange.js';

const NOW = new Date('2026-01-15T15:00:00Z');
const FRONT = 'MNQH6';

function setup() {
  const ex = new PaperExchange({ now: () => NOW, seed: 42 });
  ex.addAccount({ id: 'A', name: 'Alpha', owner: 'alice' });
  ex.addAccount({ id: 'B', name: 'Bravo', owner: 'alice' });
  ex.addAccount({ id: 'C', name: 'Charlie', owner: 'carol' });
  ex.setPrice('MNQ', 21500);
  return ex;
}

function value<T>(result: ExchangeResult<T>): T {
  if (!result.ok) throw new Error(`${result.error.reason}: ${result.error.text}`);
  return result.value;
}

function reason(result: ExchangeResult<unknown>): string | null {
  return result.ok ? null : result.error.reason;
}

const market = (
  accountId: string,
  side: 'buy' | 'sell',
  quantity: number,
  clientOrderId?: string,
): PlaceOrderRequest => ({
  accountId,
  contract: FRONT,
  side,
  quantity,
  type: 'market',
  ...(clientOrderId ? { clientOrderId } : {}),
});

describe('PaperExchange contracts', () => {
  it('resolves roots and continuous symbols to the front month at the exchange clock', () => {
    const ex = setup();
    const front = ex.resolve('MNQ');
    expect(front).toMatchObject({
      name: FRONT,
      root: 'MNQ',
      tickSize: 0.25,
      pointValue: 2,
      month: 'H',
      year: 2026,
    });
    expect(ex.resolve('MNQ1!')).toEqual(front);
    expect(ex.resolve('CME_MINI:MNQ1!')).toEqual(front);
    expect(ex.resolve('mnqh6')).toEqual(front);
    expect(ex.resolve('MNQH2026')).toEqual(front);
    expect(ex.resolve('MNQH26')).toEqual(front);
    expect(front?.id).toMatch(/^\d+$/);
  });

  it('resolves listed later months, and refuses unlisted months, expired contracts and unknown symbols', () => {
    const ex = setup();
    expect(ex.resolve('MNQZ6')?.name).toBe('MNQZ6');
    expect(ex.resolve('MNQZ6')?.id).not.toBe(ex.resolve('MNQH6')?.id);
    expect(ex.resolve('MNQF6')).toBeNull();
    expect(ex.resolve('MNQZ5')).toBeNull();
    expect(ex.resolve('QQQ')).toBeNull();
    expect(ex.resolve('')).toBeNull();
  });

  it('gives each contract the same id in every exchange, and finds it back by id', () => {
    const id = setup().resolve('ESM6')!.id;
    const other = new PaperExchange({ now: () => NOW });
    expect(other.resolve('ESM6')!.id).toBe(id);
    expect(other.contractById(id)?.name).toBe('ESM6');
    expect(other.contractById('123')).toBeNull();
    expect(other.contractById('9999999999')).toBeNull();
  });
});

describe('PaperExchange prices', () => {
  it('quotes every product from a default start price on the tick grid', () => {
    const ex = new PaperExchange({ now: () => NOW });
    expect(ex.price('MNQ')).toBe(21500);
    expect(ex.price('ES')).toBe(6000);
    expect(ex.price('CL')).toBe(70);
    expect(ex.price('NOPE')).toBeNull();
    ex.setPrice('MNQ', 21500.3);
    expect(ex.price(FRONT)).toBe(21500.25);
  });

  it('walks the same path for the same seed', () => {
    const path = (seed: number) => {
      const ex = new PaperExchange({ now: () => NOW, seed });
      ex.price('MNQ');
      const seen: number[] = [];
      for (let i = 0; i < 20; i++) {
        ex.tick();
        seen.push(ex.price('MNQ')!);
      }
      return seen;
    };
    expect(path(5)).toEqual(path(5));
    expect(path(5)).not.toEqual(path(6));
    for (const p of path(5)) expect(Number.isInteger(p / 0.25)).toBe(true);
  });

  it('fills resting orders reached by the random walk', () => {
    const ex = setup();
    value(
      ex.placeOrder({
        accountId: 'A',
        contract: FRONT,
        side: 'sell',
        quantity: 1,
        type: 'limit',
        price: 21500.25,
      }),
    );
    ex.tick(200, 'MNQ');
    expect(ex.positions('A')[0]).toMatchObject({ netQuantity: -1, averagePrice: 21500.25 });
  });
});

describe('PaperExchange average price', () => {
  it('averages adds by quantity', () => {
    const ex = setup();
    value(ex.placeOrder(market('A', 'buy', 1)));
    ex.setPrice('MNQ', 21510);
    value(ex.placeOrder(market('A', 'buy', 3)));
    expect(ex.positions('A')).toMatchObject([{ netQuantity: 4, averagePrice: 21507.5, realizedPnl: 0 }]);
  });

  it('keeps the average on a partial close and realizes the closed part', () => {
    const ex = setup();
    value(ex.placeOrder(market('A', 'buy', 4)));
    ex.setPrice('MNQ', 21510);
    value(ex.placeOrder(market('A', 'sell', 1)));
    // One contract closed 10 points higher at $2 a point.
    expect(ex.positions('A')).toMatchObject([{ netQuantity: 3, averagePrice: 21500, realizedPnl: 20 }]);
  });

  it('opens the remainder of a reversal at the fill price', () => {
    const ex = setup();
    value(ex.placeOrder(market('A', 'buy', 2)));
    ex.setPrice('MNQ', 21490);
    value(ex.placeOrder(market('A', 'sell', 5)));
    // Two contracts closed 10 points lower at $2 a point; three opened short at the fill.
    expect(ex.positions('A')).toMatchObject([{ netQuantity: -3, averagePrice: 21490, realizedPnl: -40 }]);
    ex.setPrice('MNQ', 21480);
    // The short gains 10 points on three contracts: +60.
    value(ex.placeOrder(market('A', 'buy', 3)));
    expect(ex.positions('A')).toMatchObject([
      { netQuantity: 0, averagePrice: null, realizedPnl: 20, bought: 5, sold: 5 },
    ]);
  });

  it('computes the same math as a pure function, for shorts too', () => {
    expect(nextPosition(0, null, -2, 100)).toEqual({ netQuantity: -2, averagePrice: 100, realizedPoints: 0 });
    expect(nextPosition(-2, 100, -2, 90)).toEqual({ netQuantity: -4, averagePrice: 95, realizedPoints: 0 });
    expect(nextPosition(-4, 95, 1, 90)).toEqual({ netQuantity: -3, averagePrice: 95, realizedPoints: 5 });
    expect(nextPosition(-3, 95, 5, 97)).toEqual({ netQuantity: 2, averagePrice: 97, realizedPoints: -6 });
    expect(nextPosition(2, 0.1, 1, 0.2)).toEqual({
      netQuantity: 3,
      averagePrice: 0.133333333,
      realizedPoints: 0,
    });
  });
});

describe('PaperExchange orders', () => {
  it('returns the first order for a repeated client order id and places nothing', () => {
    const ex = setup();
    const first = value(ex.placeOrder(market('A', 'buy', 1, 'cid-1')));
    const second = value(ex.placeOrder(market('A', 'buy', 7, 'cid-1')));
    const viaOso = value(ex.placeOso(market('A', 'buy', 2, 'cid-1'), { takeProfit: { ticks: 4 } }));
    expect(second.id).toBe(first.id);
    expect(viaOso.entry.id).toBe(first.id);
    expect(ex.orders('A')).toHaveLength(1);
    expect(ex.positions('A')[0]?.netQuantity).toBe(1);
    // The same id in another account is another order.
    expect(value(ex.placeOrder(market('B', 'buy', 1, 'cid-1'))).id).not.toBe(first.id);
  });

  it('rejects bad requests with Tradovate-like reasons and creates nothing', () => {
    const ex = setup();
    const base = { accountId: 'A', contract: FRONT, side: 'buy' as const, quantity: 1 };
    expect(reason(ex.placeOrder({ ...base, contract: 'MNQ', type: 'market' }))).toBe('InvalidContract');
    expect(reason(ex.placeOrder({ ...base, contract: 'MNQZ5', type: 'market' }))).toBe('InvalidContract');
    expect(reason(ex.placeOrder({ ...base, quantity: 0, type: 'market' }))).toBe('InvalidQuantity');
    expect(reason(ex.placeOrder({ ...base, quantity: 1.5, type: 'market' }))).toBe('InvalidQuantity');
    expect(reason(ex.placeOrder({ ...base, type: 'limit' }))).toBe('InvalidPrice');
    expect(reason(ex.placeOrder({ ...base, type: 'limit', price: 21490.1 }))).toBe('InvalidPrice');
    expect(reason(ex.placeOrder({ ...base, type: 'stop', stopPrice: 21490 }))).toBe('InvalidPrice');
    expect(reason(ex.placeOrder({ ...base, side: 'sell', type: 'stop', stopPrice: 21510 }))).toBe(
      'InvalidPrice',
    );
    expect(reason(ex.placeOrder({ ...base, accountId: 'Z', type: 'market' }))).toBe('UnknownAccount');
    expect(ex.orders('A')).toEqual([]);
  });

  it('refuses new orders in a closed account but still lets it cancel', () => {
    const ex = setup();
    const resting = value(
      ex.placeOrder({
        accountId: 'A',
        contract: FRONT,
        side: 'buy',
        quantity: 1,
        type: 'limit',
        price: 21400,
      }),
    );
    ex.setAccountActive('A', false);
    expect(reason(ex.placeOrder(market('A', 'buy', 1)))).toBe('AccountClosed');
    expect(reason(ex.modifyOrder('A', resting.id, { quantity: 2 }))).toBe('AccountClosed');
    expect(value(ex.cancelOrder('A', resting.id)).status).toBe('canceled');
  });

  it('fills a marketable limit at the market price and a resting limit at its own price', () => {
    const ex = setup();
    const marketable = value(
      ex.placeOrder({
        accountId: 'A',
        contract: FRONT,
        side: 'buy',
        quantity: 1,
        type: 'limit',
        price: 21520,
      }),
    );
    expect(marketable).toMatchObject({ status: 'filled', averageFillPrice: 21500 });
    const resting = value(
      ex.placeOrder({
        accountId: 'B',
        contract: FRONT,
        side: 'buy',
        quantity: 1,
        type: 'limit',
        price: 21490,
      }),
    );
    expect(resting.status).toBe('working');
    ex.setPrice('MNQ', 21480);
    expect(ex.order('B', resting.id)).toMatchObject({ status: 'filled', averageFillPrice: 21490 });
  });

  it('triggers a stop when the market crosses it and fills at the market', () => {
    const ex = setup();
    const stop = value(
      ex.placeOrder({
        accountId: 'A',
        contract: FRONT,
        side: 'buy',
        quantity: 1,
        type: 'stop',
        stopPrice: 21510,
      }),
    );
    ex.setPrice('MNQ', 21509.75);
    expect(ex.order('A', stop.id)?.status).toBe('working');
    ex.setPrice('MNQ', 21512);
    expect(ex.order('A', stop.id)).toMatchObject({ status: 'filled', averageFillPrice: 21512 });
  });

  it('fills a limit modified through the market at once, and refuses a stop moved to the wrong side', () => {
    const ex = setup();
    const limit = value(
      ex.placeOrder({
        accountId: 'A',
        contract: FRONT,
        side: 'sell',
        quantity: 1,
        type: 'limit',
        price: 21550,
      }),
    );
    expect(value(ex.modifyOrder('A', limit.id, { quantity: 2, price: 21490 }))).toMatchObject({
      status: 'filled',
      quantity: 2,
      averageFillPrice: 21500,
    });
    const stop = value(
      ex.placeOrder({
        accountId: 'A',
        contract: FRONT,
        side: 'buy',
        quantity: 1,
        type: 'stop',
        stopPrice: 21520,
      }),
    );
    expect(reason(ex.modifyOrder('A', stop.id, { quantity: 1, stopPrice: 21480 }))).toBe('InvalidPrice');
    expect(ex.order('A', stop.id)).toMatchObject({ stopPrice: 21520, status: 'working' });
    expect(reason(ex.modifyOrder('A', limit.id, { quantity: 1 }))).toBe('OrderNotWorking');
    expect(reason(ex.cancelOrder('A', limit.id))).toBe('OrderNotWorking');
  });

  it('liquidates the net position with a market order and reports null when flat', () => {
    const ex = setup();
    value(ex.placeOrder(market('A', 'sell', 3)));
    const exit = value(ex.liquidate('A', FRONT, 'liq-1'));
    expect(exit).toMatchObject({
      side: 'buy',
      quantity: 3,
      status: 'filled',
      automated: true,
      clientOrderId: 'liq-1',
    });
    expect(ex.positions('A')[0]?.netQuantity).toBe(0);
    expect(value(ex.liquidate('A', FRONT, 'liq-1'))?.id).toBe(exit?.id);
    expect(value(ex.liquidate('A', FRONT, 'liq-2'))).toBeNull();
    expect(reason(ex.liquidate('A', 'NOPE', 'liq-3'))).toBe('InvalidContract');
  });
});

describe('PaperExchange OSO brackets', () => {
  it('prices tick legs from the fill and works them once the entry fills', () => {
    const ex = setup();
    const placed = value(
      ex.placeOso(market('A', 'sell', 2, 'short'), { takeProfit: { ticks: 40 }, stopLoss: { ticks: 20 } }),
    );
    expect(placed.entry).toMatchObject({ status: 'filled', averageFillPrice: 21500 });
    expect(placed.takeProfit).toMatchObject({
      side: 'buy',
      type: 'limit',
      quantity: 2,
      price: 21490,
      status: 'working',
    });
    expect(placed.stopLoss).toMatchObject({
      side: 'buy',
      type: 'stop',
      quantity: 2,
      stopPrice: 21505,
      status: 'working',
    });
    expect(placed.takeProfit?.parentId).toBe(placed.entry.id);
    expect(placed.takeProfit?.ocoId).toBe(placed.stopLoss?.ocoId);
  });

  it('keeps legs pending while a limit entry rests, then prices them from its fill', () => {
    const ex = setup();
    const placed = value(
      ex.placeOso(
        { accountId: 'A', contract: FRONT, side: 'buy', quantity: 1, type: 'limit', price: 21490 },
        { takeProfit: { ticks: 8 }, stopLoss: { price: 21480 } },
      ),
    );
    expect(placed.takeProfit).toMatchObject({ status: 'pending', price: null, offsetTicks: 8 });
    expect(placed.stopLoss).toMatchObject({ status: 'pending', stopPrice: 21480 });
    ex.setPrice('MNQ', 21495);
    expect(ex.order('A', placed.takeProfit!.id)?.status).toBe('pending');
    ex.setPrice('MNQ', 21488);
    expect(ex.order('A', placed.entry.id)).toMatchObject({ status: 'filled', averageFillPrice: 21490 });
    expect(ex.order('A', placed.takeProfit!.id)).toMatchObject({ status: 'working', price: 21492 });
    expect(ex.order('A', placed.stopLoss!.id)?.status).toBe('working');
  });

  it('resizes pending legs with their resting entry', () => {
    const ex = setup();
    const placed = value(
      ex.placeOso(
        { accountId: 'A', contract: FRONT, side: 'buy', quantity: 1, type: 'limit', price: 21490 },
        { takeProfit: { ticks: 8 }, stopLoss: { ticks: 8 } },
      ),
    );
    value(ex.modifyOrder('A', placed.entry.id, { quantity: 3, price: 21495 }));
    expect(ex.orders('A').map((o) => o.quantity)).toEqual([3, 3, 3]);
    ex.setPrice('MNQ', 21495);
    expect(ex.order('A', placed.takeProfit!.id)).toMatchObject({
      status: 'working',
      quantity: 3,
      price: 21497,
    });
  });

  it('cancels the stop when the take profit fills (OCO)', () => {
    const ex = setup();
    const placed = value(
      ex.placeOso(market('A', 'buy', 1), { takeProfit: { ticks: 8 }, stopLoss: { ticks: 8 } }),
    );
    ex.setPrice('MNQ', 21502);
    expect(ex.order('A', placed.takeProfit!.id)).toMatchObject({ status: 'filled', averageFillPrice: 21502 });
    expect(ex.order('A', placed.stopLoss!.id)?.status).toBe('canceled');
    expect(ex.positions('A')[0]).toMatchObject({ netQuantity: 0, realizedPnl: 4 });
  });

  it('cancels the take profit when the stop fills (OCO)', () => {
    const ex = setup();
    const placed = value(
      ex.placeOso(market('A', 'buy', 1), { takeProfit: { ticks: 8 }, stopLoss: { ticks: 8 } }),
    );
    ex.setPrice('MNQ', 21497);
    expect(ex.order('A', placed.stopLoss!.id)).toMatchObject({ status: 'filled', averageFillPrice: 21497 });
    expect(ex.order('A', placed.takeProfit!.id)?.status).toBe('canceled');
  });

  it('fills a stop leg at once when the entry fills beyond it', () => {
    const ex = setup();
    const placed = value(
      ex.placeOso(
        { accountId: 'A', contract: FRONT, side: 'buy', quantity: 1, type: 'limit', price: 21490 },
        { takeProfit: { price: 21495 }, stopLoss: { price: 21480 } },
      ),
    );
    ex.setPrice('MNQ', 21470);
    expect(ex.order('A', placed.stopLoss!.id)).toMatchObject({ status: 'filled', averageFillPrice: 21470 });
    expect(ex.order('A', placed.takeProfit!.id)?.status).toBe('canceled');
    expect(ex.positions('A')[0]?.netQuantity).toBe(0);
  });

  it('cancels pending legs with their entry, and a single leg alone', () => {
    const ex = setup();
    const resting = value(
      ex.placeOso(
        { accountId: 'A', contract: FRONT, side: 'buy', quantity: 1, type: 'limit', price: 21400 },
        { takeProfit: { ticks: 8 }, stopLoss: { ticks: 8 } },
      ),
    );
    value(ex.cancelOrder('A', resting.entry.id));
    expect(ex.orders('A').map((o) => o.status)).toEqual(['canceled', 'canceled', 'canceled']);

    const live = value(
      ex.placeOso(market('B', 'buy', 1), { takeProfit: { ticks: 8 }, stopLoss: { ticks: 8 } }),
    );
    value(ex.cancelOrder('B', live.takeProfit!.id));
    expect(ex.order('B', live.stopLoss!.id)?.status).toBe('working');
  });

  it('refuses levels on the wrong side of the entry', () => {
    const ex = setup();
    const long = market('A', 'buy', 1);
    expect(reason(ex.placeOso(long, { takeProfit: { price: 21490 } }))).toBe('InvalidPrice');
    expect(reason(ex.placeOso(long, { stopLoss: { price: 21510 } }))).toBe('InvalidPrice');
    expect(reason(ex.placeOso(market('A', 'sell', 1), { takeProfit: { price: 21510 } }))).toBe(
      'InvalidPrice',
    );
    expect(reason(ex.placeOso(long, { takeProfit: { ticks: 0 } }))).toBe('InvalidPrice');
    const limitLong = {
      accountId: 'A',
      contract: FRONT,
      side: 'buy' as const,
      quantity: 1,
      type: 'limit' as const,
      price: 21450,
    };
    // The stop is below the market but above the limit entry, so it would be through the entry.
    expect(reason(ex.placeOso(limitLong, { stopLoss: { price: 21460 } }))).toBe('InvalidPrice');
    expect(ex.orders('A')).toEqual([]);
  });
});

describe('PaperExchange isolation', () => {
  it("treats another account's order as unknown and never touches it", () => {
    const ex = setup();
    const theirs = value(
      ex.placeOrder({
        accountId: 'B',
        contract: FRONT,
        side: 'buy',
        quantity: 1,
        type: 'limit',
        price: 21400,
      }),
    );
    expect(reason(ex.cancelOrder('A', theirs.id))).toBe('UnknownOrder');
    expect(reason(ex.modifyOrder('A', theirs.id, { quantity: 9, price: 21300 }))).toBe('UnknownOrder');
    expect(reason(ex.cancelOrder('A', 'no-such-order'))).toBe('UnknownOrder');
    expect(ex.order('A', theirs.id)).toBeNull();
    expect(ex.order('B', theirs.id)).toMatchObject({ quantity: 1, price: 21400, status: 'working' });
  });

  it("lists only the account's own orders, positions, fills and client order ids", () => {
    const ex = setup();
    value(ex.placeOrder(market('A', 'buy', 1, 'a-1')));
    value(ex.placeOrder(market('B', 'sell', 2, 'b-1')));
    expect(ex.orders('A').map((o) => o.accountId)).toEqual(['A']);
    expect(ex.positions('A').map((p) => p.accountId)).toEqual(['A']);
    expect(ex.fills('A').map((f) => f.accountId)).toEqual(['A']);
    expect(ex.findByClientOrderId('A', 'b-1')).toBeNull();
    expect(ex.findByClientOrderId('B', 'b-1')?.accountId).toBe('B');
    expect(ex.allOrders().map((o) => o.accountId)).toEqual(['A', 'B']);
    expect(ex.accountsOf('alice').map((a) => a.id)).toEqual(['A', 'B']);
    expect(ex.accountsOf('carol').map((a) => a.id)).toEqual(['C']);
  });

  it('hands out snapshots that cannot change exchange state', () => {
    const ex = setup();
    const order = value(
      ex.placeOrder({
        accountId: 'A',
        contract: FRONT,
        side: 'buy',
        quantity: 1,
        type: 'limit',
        price: 21400,
      }),
    );
    (order as { quantity: number }).quantity = 50;
    expect(ex.order('A', order.id)?.quantity).toBe(1);
  });
});

describe('PaperExchange events', () => {
  it('announces a market fill as order created, order filled, fill and position, after the change', () => {
    const ex = setup();
    const events: ExchangeEvent[] = [];
    const stateSeen: number[] = [];
    ex.subscribe((e) => {
      events.push(e);
      stateSeen.push(ex.positions('A').length);
    });
    value(ex.placeOrder(market('A', 'buy', 2)));
    expect(events.map((e) => [e.type, e.event])).toEqual([
      ['order', 'Created'],
      ['order', 'Updated'],
      ['fill', 'Created'],
      ['position', 'Created'],
    ]);
    expect(events.every((e) => e.accountId === 'A')).toBe(true);
    expect(events[0]?.entity).toMatchObject({ status: 'working' });
    expect(events[1]?.entity).toMatchObject({ status: 'filled' });
    expect(events[3]?.entity).toMatchObject({ netQuantity: 2, averagePrice: 21500 });
    // Listeners run once the operation is complete.
    expect(stateSeen).toEqual([1, 1, 1, 1]);
  });

  it('announces bracket legs, their activation and the OCO cancel', () => {
    const ex = setup();
    const placed = value(
      ex.placeOso(market('A', 'buy', 1), { takeProfit: { ticks: 8 }, stopLoss: { ticks: 8 } }),
    );
    const events: ExchangeEvent[] = [];
    ex.subscribe((e) => events.push(e));
    ex.setPrice('MNQ', 21502);
    const orderEvents = events
      .filter((e) => e.type === 'order')
      .map((e) => [e.entity.id, (e.entity as { status: string }).status]);
    expect(orderEvents).toEqual([
      [placed.takeProfit!.id, 'filled'],
      [placed.stopLoss!.id, 'canceled'],
    ]);
    expect(events.find((e) => e.type === 'position')).toMatchObject({
      event: 'Updated',
      entity: { netQuantity: 0 },
    });
  });

  it('stops delivering after unsubscribe, and delivers to every listener even when one throws', () => {
    const ex = setup();
    const seen: string[] = [];
    const unsubscribe = ex.subscribe((e) => seen.push(e.type));
    ex.subscribe(() => {
      throw new Error('listener bug');
    });
    expect(() => ex.placeOrder(market('A', 'buy', 1))).toThrow(AggregateError);
    expect(seen).toHaveLength(4);
    expect(ex.positions('A')[0]?.netQuantity).toBe(1);
    unsubscribe();
    expect(() => ex.placeOrder(market('A', 'buy', 1))).toThrow(AggregateError);
    expect(seen).toHaveLength(4);
  });

  it('uses monotonic numeric ids and the injected clock', () => {
    const ex = setup();
    const first = value(ex.placeOrder(market('A', 'buy', 1)));
    const second = value(ex.placeOrder(market('A', 'buy', 1)));
    expect(Number(second.id)).toBeGreaterThan(Number(first.id));
    expect(first.createdAt).toBe(NOW.toISOString());
    expect(ex.fills('A')[0]?.timestamp).toBe(NOW.toISOString());
  });
});
