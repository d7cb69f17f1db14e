import { afterEach, describe, expect, it } from 'vitest';
import {
  ManualClock,
  type SimUserOption,
  type Simulator,
  type SimulatorOptions,
  startSimulator,
} from '../../fakes/tradovate/server.js';
import { login, rest, WsClient, waitFor } from './client.js';

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
const FRONT = 'MNQH6';
const order = (accountId: number, extra: Record<string, unknown> = {}) => ({
  accountId,
  action: 'Buy',
  symbol: FRONT,
  orderQty: 1,
  orderType: 'Market',
  isAutomated: true,
  ...extra,
});

let sim: Simulator;
const clients: WsClient[] = [];

async function start(options: SimulatorOptions = {}): Promise<Simulator> {
  sim = await startSimulator({ users: [ALICE, BOB], clock: new ManualClock(), ...options });
  return sim;
}

async function connect(token?: string): Promise<WsClient> {
  const ws = await WsClient.connect(sim.wsUrl);
  clients.push(ws);
  if (token) expect((await ws.authorize(token)).s).toBe(200);
  return ws;
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await sim?.close();
});

describe('authorize', () => {
  it('sends o, then answers a raw or JSON-quoted token with {i,s:200} and a bad one with 401', async () => {
    await start();
    const { accessToken } = await login(sim, ALICE);
    const raw = await connect();
    expect(raw.frames[0]).toBe('o');
    expect(await raw.authorize(accessToken)).toEqual({ i: 1, s: 200 });
    const quoted = await connect();
    expect((await quoted.authorize(JSON.stringify(accessToken))).s).toBe(200);
    const bad = await connect();
    expect(await bad.authorize('nope')).toEqual({ i: 1, s: 401, d: 'Invalid access token' });
    expect(sim.sockets(ALICE.name)).toBe(2);
  });

  it('refuses JSON-quoted tokens when strict', async () => {
    await start({ ws: { strictAuthorizeToken: true } });
    const { accessToken } = await login(sim, ALICE);
    const ws = await connect();
    expect((await ws.authorize(JSON.stringify(accessToken))).s).toBe(401);
  });

  it('closes a socket that does not authorize within the grace period', async () => {
    await start({ ws: { authorizeTimeoutMs: 150 } });
    const ws = await connect();
    const closed = await ws.closed;
    expect(closed.code).toBe(1000);
    expect(ws.frames.at(-1)).toMatch(/^c\[\d+,"Unauthorized"\]$/);
  });
});

describe('requests', () => {
  it('answers any REST endpoint with {i,s,d}, parsing frames loosely', async () => {
    await start();
    const { accessToken } = await login(sim, ALICE);
    const ws = await connect(accessToken);

    const list = await ws.request('account/list');
    expect(list).toMatchObject({ s: 200, d: [{ id: 1101 }, { id: 1102 }] });

    ws.send('account/list\n10\nundefined\nundefined\n');
    expect((await ws.response(10)).s).toBe(200);
    ws.send(`contract/find\n11\nname=${FRONT}\n\n`);
    expect((await ws.response(11)).d).toMatchObject({ name: FRONT });
    ws.send(`Order/PlaceOrder\n12\n\n${JSON.stringify(order(1101), null, 2)}\n`);
    expect((await ws.response(12)).d).toEqual({ orderId: expect.any(Number) });

    expect(await ws.request('order/item', undefined, 'id=999999')).toEqual({
      i: expect.any(Number),
      s: 404,
      d: 'Not found',
    });
    expect((await ws.request('no/suchendpoint')).s).toBe(404);
    expect(sim.requests.count({ transport: 'ws', endpoint: 'order/placeorder' })).toBe(1);
  });

  it('answers requests before authorize with 401', async () => {
    await start();
    const ws = await connect();
    expect(await ws.request('account/list')).toMatchObject({ s: 401, d: expect.any(String) });
  });
});

describe('heartbeats', () => {
  it('keeps an idle socket that sends [] alive, sending h while it has nothing else to say', async () => {
    await start({ ws: { heartbeatMs: 40, clientTimeoutMs: 250 } });
    const { accessToken } = await login(sim, ALICE);
    const ws = await connect(accessToken);
    ws.startHeartbeat(40);
    await waitFor(() => ws.frames.filter((f) => f === 'h').length >= 15, 5000, '15 server heartbeats');
    expect(ws.isOpen).toBe(true);
  });

  it('drops a client that stays silent past the timeout', async () => {
    await start({ ws: { heartbeatMs: 40, clientTimeoutMs: 250 } });
    const { accessToken } = await login(sim, ALICE);
    const ws = await connect(accessToken);
    const started = Date.now();
    await ws.closed;
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    expect(ws.frames).toContain('h');
    expect(sim.sockets(ALICE.name)).toBe(0);
  });
});

describe('user/syncrequest and props', () => {
  it('returns a snapshot, then streams props for the user’s orders, fills and positions only', async () => {
    await start();
    const alice = (await login(sim, ALICE)).accessToken;
    const bob = (await login(sim, BOB)).accessToken;
    await rest(sim, 'order/placeorder', { token: alice, body: order(1101) });
    const ws = await connect(alice);
    const sync = await ws.request('user/syncrequest', { users: [ALICE.userId] });
    expect(sync.s).toBe(200);
    expect(sync.d.users).toEqual([expect.objectContaining({ id: ALICE.userId })]);
    expect(sync.d.accounts.map((a: { id: number }) => a.id)).toEqual([1101, 1102]);
    expect(sync.d.orders).toHaveLength(1);
    expect(sync.d.positions).toEqual([expect.objectContaining({ netPos: 1 })]);
    expect(sync.d.contracts).toEqual(expect.arrayContaining([expect.objectContaining({ name: FRONT })]));

    await rest(sim, 'order/placeorder', { token: bob, body: order(1201) });
    const placed = await rest(sim, 'order/placeorder', {
      token: alice,
      body: order(1102, { clOrdId: 'c-1' }),
    });
    const orderId = placed.body.orderId;
    const props = await waitFor(() => {
      const p = ws.events('props').map((m) => m.d);
      return p.some((d) => d.entityType === 'position') ? p : null;
    });
    expect(props).toEqual(
      expect.arrayContaining([
        {
          entityType: 'order',
          eventType: 'Created',
          entity: expect.objectContaining({ id: orderId, accountId: 1102 }),
        },
        {
          entityType: 'order',
          eventType: 'Updated',
          entity: expect.objectContaining({ id: orderId, ordStatus: 'Filled' }),
        },
        {
          entityType: 'command',
          eventType: 'Created',
          entity: expect.objectContaining({ orderId, clOrdId: 'c-1' }),
        },
        {
          entityType: 'orderVersion',
          eventType: 'Created',
          entity: expect.objectContaining({ orderId, orderQty: 1 }),
        },
        { entityType: 'fill', eventType: 'Created', entity: expect.objectContaining({ orderId, qty: 1 }) },
        {
          entityType: 'position',
          eventType: 'Created',
          entity: expect.objectContaining({ accountId: 1102, netPos: 1 }),
        },
      ]),
    );
    expect(props.every((d) => d.entity.accountId !== 1201)).toBe(true);
  });

  it('streams only the requested accounts and batches the answer with its events in one frame', async () => {
    await start();
    const { accessToken } = await login(sim, ALICE);
    const ws = await connect(accessToken);
    expect((await ws.request('user/syncrequest', { accounts: [1102] })).d.accounts).toHaveLength(1);
    await rest(sim, 'order/placeorder', { token: accessToken, body: order(1101) });
    const placed = await ws.request('order/placeorder', order(1102));
    const frame = ws.frames.find((f) => f.includes(`"i":${placed.i},`))!;
    expect(frame).toContain('"e":"props"');
    const accounts = ws
      .events('props')
      .map((m) => m.d.entity.accountId)
      .filter((x) => x !== undefined);
    expect(new Set(accounts)).toEqual(new Set([1102]));
  });
});

describe('shutdown and quotas', () => {
  it('closes the oldest socket past the per-user quota with shutdown ConnectionQuotaReached and a c frame', async () => {
    await start({ ws: { maxSocketsPerUser: 2 } });
    const { accessToken } = await login(sim, ALICE);
    const first = await connect(accessToken);
    await connect(accessToken);
    await connect(accessToken);
    await first.closed;
    expect(first.events('shutdown')).toEqual([
      { e: 'shutdown', d: expect.objectContaining({ reasonCode: 'ConnectionQuotaReached' }) },
    ]);
    expect(first.frames.at(-1)).toMatch(/^c\[\d+,".+"\]$/);
    expect(sim.sockets(ALICE.name)).toBe(2);
  });

  it('shuts a user’s sockets down on demand', async () => {
    await start();
    const { accessToken } = await login(sim, ALICE);
    const ws = await connect(accessToken);
    expect(sim.shutdownSockets(ALICE.name, 'Maintenance', 'Weekly restart')).toBe(1);
    await ws.closed;
    expect(ws.events('shutdown')[0]?.d).toEqual({ reasonCode: 'Maintenance', reason: 'Weekly restart' });
  });

  it('cuts a socket on its Nth request after executing it, without an answer', async () => {
    await start({ faults: { dropSocketAfterMessages: 2 } });
    const { accessToken } = await login(sim, ALICE);
    const ws = await connect(accessToken);
    expect((await ws.request('account/list')).s).toBe(200);
    ws.send(`order/placeorder\n99\n\n${JSON.stringify(order(1101))}`);
    const closed = await ws.closed;
    expect(closed.code).toBe(1006);
    expect(ws.messages.find((m) => m.i === 99)).toBeUndefined();
    expect(sim.orders(1101)).toHaveLength(1);
  });
});
