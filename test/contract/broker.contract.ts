/**
 * The broker contract: what every implementation of the broker port must do, written once and run
 * against each venue (the paper broker here, the Tradovate adapter against its simulator later).
 *
 * The suite talks to the broker only through the port, plus two harness controls a venue double can
 * offer: setting a product's price and tearing down. Assertions about effects of fills are polled
 * (`eventually`), because a real adapter learns about fills from a socket, after the call returns.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type {
  AccountRef,
  Broker,
  BrokerOrder,
  BrokerResult,
  ContractInfo,
} from '../../src/brokers/broker.js';

export interface ContractHarness {
  readonly broker: Broker;
  /** The credential the suite trades with. */
  readonly credentialId: string;
  /** At least two accounts of {@link credentialId}, all flat with no working orders. */
  readonly accounts: readonly AccountRef[];
  /** An account of another credential. */
  readonly foreign: AccountRef;
  /** Move the front month of a product root to a price; resting orders it reaches fill. */
  setPrice(root: string, price: number): Promise<void>;
  teardown(): Promise<void>;
}

const ENTRY = 21500;

/** Unwrap a successful result, failing the test with the error otherwise. */
export function must<T>(result: BrokerResult<T>): T {
  if (!result.ok)
    throw new Error(
      `expected success, got ${result.error.kind}/${result.error.reason}: ${result.error.message}`,
    );
  return result.value;
}

/** Retry an assertion until it passes or the time is up; the last failure is reported. */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = 2_000, intervalMs = 10): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() >= deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }
}

/** Register the contract suite for one broker; `setup` builds a fresh harness for every case. */
export function describeBrokerContract(name: string, setup: () => Promise<ContractHarness>): void {
  describe(`broker contract: ${name}`, () => {
    let h: ContractHarness;
    let a: AccountRef;
    let b: AccountRef;
    let mnq: ContractInfo;
    let seq = 0;
    // Unique across runs, so a venue double that outlives one case never sees a client order id twice.
    const run = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
    const cid = (label: string) => `ct-${run}-${++seq}-${label}`;

    beforeEach(async () => {
      h = await setup();
      expect(h.accounts.length).toBeGreaterThanOrEqual(2);
      [a, b] = h.accounts as [AccountRef, AccountRef];
      mnq = must(await h.broker.resolveContract(h.credentialId, 'MNQ'));
      await h.setPrice('MNQ', ENTRY);
    });

    afterEach(async () => {
      await h.teardown();
    });

    const working = async (account: AccountRef) => must(await h.broker.workingOrders(account));
    const positions = async (account: AccountRef) => must(await h.broker.positions(account));
    const marketBuy = async (account: AccountRef, quantity: number, clientOrderId = cid('buy')) =>
      must(
        await h.broker.placeOrder({
          account,
          clientOrderId,
          contract: mnq.name,
          side: 'buy',
          quantity,
          type: 'market',
        }),
      );
    const limitBuy = async (account: AccountRef, price: number, clientOrderId = cid('limit')) =>
      must(
        await h.broker.placeOrder({
          account,
          clientOrderId,
          contract: mnq.name,
          side: 'buy',
          quantity: 1,
          type: 'limit',
          price,
        }),
      );
    const expectFlat = async (account: AccountRef) =>
      eventually(async () => {
        expect(await positions(account)).toEqual([]);
      });

    it("lists the credential's accounts and no other credential's", async () => {
      const listed = must(await h.broker.listAccounts(h.credentialId)).map((x) => x.brokerAccountId);
      for (const account of h.accounts) expect(listed).toContain(account.brokerAccountId);
      expect(listed).not.toContain(h.foreign.brokerAccountId);
    });

    it('resolves MNQ, MNQ1! and the exact front-month name to one contract, and refuses an unknown symbol', async () => {
      expect(mnq).toMatchObject({ root: 'MNQ', tickSize: 0.25, pointValue: 2 });
      expect(mnq.name).toMatch(/^MNQ[HMUZ]\d$/);
      const continuous = must(await h.broker.resolveContract(h.credentialId, 'MNQ1!'));
      const exact = must(await h.broker.resolveContract(h.credentialId, mnq.name));
      expect(continuous).toEqual(mnq);
      expect(exact).toEqual(mnq);

      const unknown = await h.broker.resolveContract(h.credentialId, 'QQQZZ');
      expect(unknown.ok).toBe(false);
      if (!unknown.ok) expect(unknown.error).toMatchObject({ kind: 'rejected', reason: 'InvalidContract' });
    });

    it('fills a market order and shows the position with its quantity and average price', async () => {
      const order = await marketBuy(a, 2);
      expect(order).toMatchObject({
        brokerAccountId: a.brokerAccountId,
        contract: mnq.name,
        side: 'buy',
        quantity: 2,
      });
      await eventually(async () => {
        expect(await positions(a)).toEqual([
          { brokerAccountId: a.brokerAccountId, contract: mnq.name, netQuantity: 2, averagePrice: ENTRY },
        ]);
      });
      const settled = must(await h.broker.findOrder(a, order.clientOrderId!));
      expect(settled).toMatchObject({
        orderId: order.orderId,
        status: 'filled',
        filledQuantity: 2,
        averageFillPrice: ENTRY,
      });
    });

    it('places a bracket at absolute prices: entry filled, one take-profit limit and one stop, each for the entry quantity', async () => {
      const placed = must(
        await h.broker.placeBracket({
          account: a,
          clientOrderId: cid('bracket'),
          contract: mnq.name,
          side: 'buy',
          quantity: 2,
          type: 'market',
          takeProfit: { kind: 'price', price: ENTRY + 20 },
          stopLoss: { kind: 'price', price: ENTRY - 10 },
        }),
      );
      await eventually(async () => {
        expect(await positions(a)).toMatchObject([{ netQuantity: 2, averagePrice: ENTRY }]);
        const orders = await working(a);
        expect(orders).toHaveLength(2);
        const tp = orders.find((o) => o.type === 'limit');
        const sl = orders.find((o) => o.type === 'stop');
        expect(tp).toMatchObject({ side: 'sell', quantity: 2, price: ENTRY + 20, status: 'working' });
        expect(sl).toMatchObject({ side: 'sell', quantity: 2, stopPrice: ENTRY - 10, status: 'working' });
      });
      const entry = must(await h.broker.findOrder(a, placed.entry.clientOrderId!));
      expect(entry).toMatchObject({ orderId: placed.entry.orderId, status: 'filled' });
    });

    it('prices tick-offset bracket legs from the fill: take profit at fill ± ticks, stop at fill ∓ ticks', async () => {
      must(
        await h.broker.placeBracket({
          account: a,
          clientOrderId: cid('offsets'),
          contract: mnq.name,
          side: 'buy',
          quantity: 1,
          type: 'market',
          takeProfit: { kind: 'offset', ticks: 20 },
          stopLoss: { kind: 'offset', ticks: 10 },
        }),
      );
      must(
        await h.broker.placeBracket({
          account: b,
          clientOrderId: cid('offsets-short'),
          contract: mnq.name,
          side: 'sell',
          quantity: 1,
          type: 'market',
          takeProfit: { kind: 'offset', ticks: 12 },
          stopLoss: { kind: 'offset', ticks: 6 },
        }),
      );
      await eventually(async () => {
        const long = await working(a);
        expect(long.find((o) => o.type === 'limit')?.price).toBe(ENTRY + 20 * mnq.tickSize);
        expect(long.find((o) => o.type === 'stop')?.stopPrice).toBe(ENTRY - 10 * mnq.tickSize);
        const short = await working(b);
        expect(short.find((o) => o.type === 'limit')).toMatchObject({
          side: 'buy',
          price: ENTRY - 12 * mnq.tickSize,
        });
        expect(short.find((o) => o.type === 'stop')).toMatchObject({
          side: 'buy',
          stopPrice: ENTRY + 6 * mnq.tickSize,
        });
      });
    });

    it('cancels the stop when the take profit fills, leaving the account flat with nothing working', async () => {
      must(
        await h.broker.placeBracket({
          account: a,
          clientOrderId: cid('oco'),
          contract: mnq.name,
          side: 'buy',
          quantity: 1,
          type: 'market',
          takeProfit: { kind: 'offset', ticks: 8 },
          stopLoss: { kind: 'offset', ticks: 8 },
        }),
      );
      await eventually(async () => expect(await working(a)).toHaveLength(2));
      await h.setPrice('MNQ', ENTRY + 3);
      await expectFlat(a);
      await eventually(async () => expect(await working(a)).toEqual([]));
    });

    it('places one order when the same client order id is sent twice', async () => {
      const id = cid('twice');
      const first = await marketBuy(a, 1, id);
      const second = await marketBuy(a, 1, id);
      expect(second.orderId).toBe(first.orderId);
      await eventually(async () => expect(await positions(a)).toMatchObject([{ netQuantity: 1 }]));

      const resting = await limitBuy(a, ENTRY - 50, cid('rest'));
      const again = await limitBuy(a, ENTRY - 50, resting.clientOrderId!);
      expect(again.orderId).toBe(resting.orderId);
      expect((await working(a)).filter((o) => o.type === 'limit')).toHaveLength(1);
    });

    it('modifies the take profit to a new quantity', async () => {
      const placed = must(
        await h.broker.placeBracket({
          account: a,
          clientOrderId: cid('modify'),
          contract: mnq.name,
          side: 'buy',
          quantity: 2,
          type: 'market',
          takeProfit: { kind: 'price', price: ENTRY + 20 },
        }),
      );
      const tp = await eventually(async () => {
        const found = (await working(a)).find((o) => o.type === 'limit');
        expect(found).toBeDefined();
        return found!;
      });
      if (placed.takeProfitOrderId !== undefined) expect(tp.orderId).toBe(placed.takeProfitOrderId);
      must(await h.broker.modifyOrder({ account: a, orderId: tp.orderId, quantity: 1, price: ENTRY + 20 }));
      await eventually(async () => {
        expect((await working(a)).find((o) => o.orderId === tp.orderId)).toMatchObject({
          quantity: 1,
          price: ENTRY + 20,
        });
      });
    });

    it('cancels a working order so it no longer works', async () => {
      const order = await limitBuy(a, ENTRY - 40);
      await eventually(async () => expect((await working(a)).map((o) => o.orderId)).toContain(order.orderId));
      must(await h.broker.cancelOrder({ account: a, orderId: order.orderId }));
      await eventually(async () =>
        expect((await working(a)).map((o) => o.orderId)).not.toContain(order.orderId),
      );
    });

    it('liquidates a position to flat, and returns null when already flat', async () => {
      await marketBuy(a, 3);
      await eventually(async () => expect(await positions(a)).toMatchObject([{ netQuantity: 3 }]));
      const exit = must(
        await h.broker.liquidatePosition({ account: a, contract: mnq.name, clientOrderId: cid('liq') }),
      );
      expect(exit).toMatchObject({ side: 'sell', quantity: 3 });
      await expectFlat(a);
      const none = must(
        await h.broker.liquidatePosition({ account: a, contract: mnq.name, clientOrderId: cid('liq') }),
      );
      expect(none).toBeNull();
    });

    it("never shows account B's orders or positions in account A's lists", async () => {
      await marketBuy(a, 1);
      const restingA = await limitBuy(a, ENTRY - 30);
      await marketBuy(b, 2);
      const restingB = await limitBuy(b, ENTRY - 60);
      await eventually(async () => {
        const ordersA = await working(a);
        const ordersB = await working(b);
        expect(ordersA.map((o) => o.orderId)).toEqual([restingA.orderId]);
        expect(ordersB.map((o) => o.orderId)).toEqual([restingB.orderId]);
        expect((await positions(a)).map((p) => [p.brokerAccountId, p.netQuantity])).toEqual([
          [a.brokerAccountId, 1],
        ]);
        expect((await positions(b)).map((p) => [p.brokerAccountId, p.netQuantity])).toEqual([
          [b.brokerAccountId, 2],
        ]);
      });
    });

    it("refuses account B's order id used with account A and leaves the order untouched", async () => {
      const foreignOrder = await limitBuy(b, ENTRY - 25);
      const canceled = await h.broker.cancelOrder({ account: a, orderId: foreignOrder.orderId });
      expect(canceled.ok).toBe(false);
      if (!canceled.ok) expect(canceled.error.kind).toBe('rejected');
      const modified = await h.broker.modifyOrder({
        account: a,
        orderId: foreignOrder.orderId,
        quantity: 5,
        price: ENTRY - 5,
      });
      expect(modified.ok).toBe(false);
      if (!modified.ok) expect(modified.error.kind).toBe('rejected');
      const stillThere = (await working(b)).find((o) => o.orderId === foreignOrder.orderId);
      expect(stillThere).toMatchObject({ quantity: 1, price: ENTRY - 25, status: 'working' });
    });

    it("refuses another credential's account with Unauthorized", async () => {
      const intruder: AccountRef = {
        credentialId: h.credentialId,
        brokerAccountId: h.foreign.brokerAccountId,
      };
      const results: BrokerResult<unknown>[] = [
        await h.broker.placeOrder({
          account: intruder,
          clientOrderId: cid('intrude'),
          contract: mnq.name,
          side: 'buy',
          quantity: 1,
          type: 'market',
        }),
        await h.broker.workingOrders(intruder),
        await h.broker.positions(intruder),
        await h.broker.findOrder(intruder, cid('intrude')),
      ];
      for (const result of results) {
        expect(result.ok).toBe(false);
        if (!result.ok) expect(result.error).toMatchObject({ kind: 'rejected', reason: 'Unauthorized' });
      }
      expect(must(await h.broker.positions(h.foreign))).toEqual([]);
    });

    it('finds an order by client order id, and returns null for an unknown one', async () => {
      const order = await limitBuy(a, ENTRY - 20, cid('find'));
      const found: BrokerOrder | null = must(await h.broker.findOrder(a, order.clientOrderId!));
      expect(found).toMatchObject({
        orderId: order.orderId,
        clientOrderId: order.clientOrderId,
        status: 'working',
      });
      expect(must(await h.broker.findOrder(a, cid('never-sent')))).toBeNull();
      expect(must(await h.broker.findOrder(b, order.clientOrderId!))).toBeNull();
    });

    it('rests a limit entry as working until the price reaches it, then fills at the limit', async () => {
      const order = await limitBuy(a, ENTRY - 10);
      expect(order.status).toBe('working');
      await h.setPrice('MNQ', ENTRY - 5);
      expect(await positions(a)).toEqual([]);
      expect((await working(a)).map((o) => o.orderId)).toEqual([order.orderId]);
      await h.setPrice('MNQ', ENTRY - 10);
      await eventually(async () => {
        expect(await positions(a)).toMatchObject([{ netQuantity: 1, averagePrice: ENTRY - 10 }]);
        expect(await working(a)).toEqual([]);
      });
    });
  });
}
