/**
 * The first trade end to end: the console transport, the command layer, the engine, the journal
 * and the paper exchange, on each storage driver.
 */
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleTransport } from '../../../bots/console/console.js';
import { startTestApp, type TestApp, waitFor } from '../../helpers/app.js';
import { testDrivers } from '../../helpers/db.js';

describe.each(testDrivers())('the console on %s', (driver) => {
  let t: TestApp;
  let input: PassThrough;
  let output = '';
  let transport: ConsoleTransport;

  beforeAll(async () => {
    t = await startTestApp(driver);
    input = new PassThrough();
    const out = new PassThrough();
    out.on('data', (chunk) => {
      output += String(chunk);
    });
    transport = new ConsoleTransport({ commands: t.app.commands, input, output: out, log: t.logs.log });
    transport.start();
  });
  afterAll(async () => {
    await transport.stop();
    await t.stop();
  });

  /** Type a line and wait for the text the console prints next to match. */
  async function type(line: string, expected: RegExp): Promise<string> {
    const from = output.length;
    input.write(`${line}\n`);
    return waitFor(() => {
      const m = expected.exec(output.slice(from));
      return m ? output.slice(from) : null;
    }, `console output matching ${expected} after ${line}`);
  }

  const demoAccounts = async () =>
    (await t.app.stores.accounts.listAll()).filter((a) => a.broker === 'paper');

  it('the demo holds the console admin with 20 paper accounts over 5 credentials', async () => {
    const accounts = await demoAccounts();
    expect(accounts).toHaveLength(20);
    expect(new Set(accounts.map((a) => a.credentialId)).size).toBe(5);
  });

  it('/buy MNQ 1 tp=20 sl=10 fills on all 20 accounts, each with a working take-profit and stop', async () => {
    const text = await type('/buy MNQ 1 tp=20 sl=10', /Signal #\d+.*\n.*\n/);
    expect(text).toMatch(/buy MNQ on 20 account\(s\)/);
    expect(text).toMatch(/filled 20/);
    const { exchange } = t.app;
    for (const account of await demoAccounts()) {
      const positions = exchange.positions(account.brokerAccountId).filter((p) => p.netQuantity !== 0);
      expect(positions).toHaveLength(1);
      const [position] = positions;
      expect(position!.netQuantity).toBe(1);
      const working = exchange.orders(account.brokerAccountId).filter((o) => o.status === 'working');
      expect(working).toHaveLength(2);
      const tp = working.find((o) => o.type === 'limit')!;
      const sl = working.find((o) => o.type === 'stop')!;
      expect(tp).toMatchObject({ side: 'sell', quantity: 1, price: position!.averagePrice! + 20 });
      expect(sl).toMatchObject({ side: 'sell', quantity: 1, stopPrice: position!.averagePrice! - 10 });
    }
    const journal = await t.app.stores.journal.listNonTerminal();
    expect(journal).toEqual([]);
  });

  it('/positions shows every account long one contract with two working orders', async () => {
    const text = await type('/positions', /Positions over 20 account\(s\):[\s\S]*DEMO-5-4.*\n/);
    expect(text.match(/ \+1 +@ /g)).toHaveLength(20);
    expect(text.match(/working 2/g)).toHaveLength(20);
  });

  it('/flatten all asks first, then leaves every account flat with nothing working', async () => {
    await type('/flatten all', /Flatten every position and cancel every working order on 20 account/);
    const text = await type('y', /Signal #\d+.*\n.*\n/);
    expect(text).toMatch(/flat 20/);
    for (const account of await demoAccounts()) {
      expect(t.app.exchange.positions(account.brokerAccountId).filter((p) => p.netQuantity !== 0)).toEqual(
        [],
      );
      expect(
        t.app.exchange
          .orders(account.brokerAccountId)
          .filter((o) => o.status === 'working' || o.status === 'pending'),
      ).toEqual([]);
    }
    await type('/positions', /All 20 account\(s\) are flat with no working orders/);
  });

  it('answering anything but yes to a confirmation sends nothing', async () => {
    const before = t.app.exchange.allOrders().length;
    await type('/flatten all', /\[y\/N\]/);
    await type('no', /Cancelled; nothing was sent/);
    expect(t.app.exchange.allOrders().length).toBe(before);
  });

  it.each([
    ['/buy', /missing symbol/],
    ['/buy MNQ -1', /quantity must be a positive whole number \(got -1\)/],
    ['/buy MNQ 0', /quantity must be a positive whole number \(got 0\)/],
    ['/buy MNQ 1 tp=abc', /tp: .*\(got abc\)/],
    ['/buy XYZ 1', /unknown symbol XYZ/],
    ['/frobnicate', /unknown command/i],
  ])('%s gets a usage error naming the problem and nothing is executed', async (line, problem) => {
    const orders = t.app.exchange.allOrders().length;
    const signals = (await t.app.stores.signals.recentHeads(1000)).length;
    const text = await type(line, /✗ .*\n/);
    expect(text).toMatch(problem);
    expect(t.app.exchange.allOrders().length).toBe(orders);
    expect((await t.app.stores.signals.recentHeads(1000)).length).toBe(signals);
  });
});

describe.each(testDrivers())('the command layer on %s', (driver) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(driver);
  });
  afterAll(async () => t.stop());

  it('the same signal delivered twice executes once', async () => {
    const admin = { platform: 'console' as const, userId: 'local' };
    const first = await t.app.commands.runText(admin, '/buy MNQ 1 tp=20 sl=10', { dedupKey: 'delivery-1' });
    const orders = t.app.exchange.allOrders().length;
    const second = await t.app.commands.runText(admin, '/buy MNQ 1 tp=20 sl=10', { dedupKey: 'delivery-1' });
    expect(first).toMatchObject({ kind: 'fanout', duplicate: false });
    expect(second).toMatchObject({ kind: 'fanout', duplicate: true });
    if (first.kind !== 'fanout' || second.kind !== 'fanout') throw new Error('unreachable');
    expect(second.summary.duplicateOf).toBe(first.summary.signalId);
    expect(second.summary.filled).toBe(20);
    expect(t.app.exchange.allOrders().length).toBe(orders);
    expect(await t.app.stores.journal.listBySignal(first.summary.signalId)).toHaveLength(20);
  });

  it('a user with no role is denied with a clear reply and nothing is journaled or sent', async () => {
    const stranger = { platform: 'telegram' as const, userId: '424242' };
    await t.app.stores.users.ensureIdentityUser('telegram', '515151', 'new member', []);
    const roleless = { platform: 'telegram' as const, userId: '515151' };
    const orders = t.app.exchange.allOrders().length;
    const signals = (await t.app.stores.signals.recentHeads(1000)).length;
    const a = await t.app.commands.runText(stranger, '/buy MNQ 1 tp=20 sl=10');
    const b = await t.app.commands.runText(roleless, '/buy MNQ 1 tp=20 sl=10');
    expect(a).toMatchObject({ kind: 'denied', denial: { code: 'unknown_user' } });
    expect(b).toMatchObject({ kind: 'denied', denial: { code: 'no_role' } });
    if (b.kind === 'denied') expect(b.denial.message).toMatch(/no role/);
    expect(t.app.exchange.allOrders().length).toBe(orders);
    expect((await t.app.stores.signals.recentHeads(1000)).length).toBe(signals);
  });

  it('a trader targets only their own accounts; an admin-only command is refused', async () => {
    const trader = await t.app.stores.users.ensureIdentityUser('discord', '777', 'trader', ['trader']);
    const credential = await t.app.stores.credentials.create({
      ownerUserId: trader.id,
      broker: 'paper',
      environment: 'paper',
      kind: 'api_key',
      label: 'trader paper',
      secret: {},
    });
    const own = await t.app.stores.accounts.create({
      credentialId: credential.id,
      ownerUserId: trader.id,
      brokerAccountId: 'TRADER1',
      name: 'T-1',
      multiplier: 2,
    });
    t.app.exchange.addAccount({ id: 'TRADER1', name: 'T-1', owner: credential.id });
    const principal = { platform: 'discord' as const, userId: '777' };
    const reply = await t.app.commands.runText(principal, '/sell MNQ 1 tp=10t sl=8t');
    expect(reply).toMatchObject({ kind: 'fanout', summary: { accounts: 1, filled: 1 } });
    expect(t.app.exchange.positions('TRADER1').find((p) => p.netQuantity !== 0)?.netQuantity).toBe(-2);
    expect(reply.kind === 'fanout' && reply.summary.outcomes[0]?.accountId).toBe(own.id);
    expect(await t.app.commands.runText(principal, '/halt')).toMatchObject({
      kind: 'denied',
      denial: { code: 'admin_only' },
    });
    expect(await t.app.commands.runText(principal, '/buy MNQ 1 account=all')).toMatchObject({
      kind: 'denied',
      denial: { code: 'admin_only' },
    });
  });

  it('a halt skips entries with the reason and still lets a flatten through', async () => {
    const admin = { platform: 'console' as const, userId: 'local' };
    await t.app.commands.runText(admin, '/halt news at 14:30');
    const entry = await t.app.commands.runText(admin, '/buy MNQ 1');
    expect(entry).toMatchObject({
      kind: 'fanout',
      summary: { filled: 0, skipped: [{ reason: 'halted', count: 20 }] },
    });
    const pending = await t.app.commands.runText(admin, '/flatten MNQ');
    expect(pending.kind).toBe('fanout');
    await t.app.commands.runText(admin, '/resume');
    expect((await t.app.engine.halted()).halted).toBe(false);
  });
});
