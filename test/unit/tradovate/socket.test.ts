import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import { TradovateSocket } from '../../../src/brokers/tradovate/ws.js';
import { MemoryLogger } from './fake-venue.js';

/** A scripted venue socket: sends `o`, accepts any token, answers requests through `answer`. */
async function scriptedServer(answer: (endpoint: string, id: number, ws: WebSocket) => void = () => {}) {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const received: string[] = [];
  wss.on('connection', (ws) => {
    ws.send('o');
    ws.on('message', (data) => {
      const text = data.toString();
      received.push(text);
      if (text === '[]') return;
      const [endpoint = '', id = '0'] = text.split('\n');
      if (endpoint === 'authorize') ws.send(`a${JSON.stringify([{ i: Number(id), s: 200 }])}`);
      else answer(endpoint, Number(id), ws);
    });
  });
  const port = (wss.address() as AddressInfo).port;
  const close = () =>
    new Promise((resolve) => {
      for (const client of wss.clients) client.terminate();
      wss.close(resolve);
    });
  return { url: `ws://127.0.0.1:${port}/v1/websocket`, received, wss, close };
}

async function until(check: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('Tradovate socket', () => {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    // Last in, first out: sockets close before their server.
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  function socket(url: string, overrides: Partial<ConstructorParameters<typeof TradovateSocket>[0]> = {}) {
    const closes: { code: number; reason: string; expected: boolean }[] = [];
    const s = new TradovateSocket({
      url,
      credentialId: 'c1',
      log: new MemoryLogger(),
      heartbeatMs: 50,
      silenceMs: 10_000,
      onEvent: () => {},
      onClose: (info) => closes.push(info),
      ...overrides,
    });
    cleanups.push(() => s.close('test over'));
    return { s, closes };
  }

  it('authorizes with the raw token, then sends [] heartbeats on its own', async () => {
    const server = await scriptedServer();
    cleanups.push(server.close);
    const { s } = socket(server.url);
    expect((await s.connect(1_000)).ok).toBe(true);
    const auth = await s.authorize('tok-1', 1_000);
    expect(auth).toMatchObject({ kind: 'response', status: 200 });
    expect(server.received[0]).toBe('authorize\n0\n\ntok-1');
    await until(() => server.received.filter((m) => m === '[]').length >= 2);
    expect(s.ready).toBe(true);
  });

  it('sends a heartbeat only after a silence as long as its period: a socket busy with requests sends none', async () => {
    const server = await scriptedServer((_endpoint, id, ws) =>
      ws.send(`a${JSON.stringify([{ i: id, s: 200, d: [] }])}`),
    );
    cleanups.push(server.close);
    const { s } = socket(server.url, { heartbeatMs: 200 });
    await s.connect(1_000);
    await s.authorize('tok-1', 1_000);
    const beats = () => server.received.filter((m) => m === '[]').length;
    // Busy: a request every 15 ms for a second, five heartbeat periods.
    const busyUntil = Date.now() + 1_000;
    while (Date.now() < busyUntil) {
      expect(await s.request({ endpoint: 'account/list' }, 1_000)).toMatchObject({ status: 200 });
      await new Promise((resolve) => setTimeout(resolve, 15));
    }
    expect(beats()).toBe(0);
    // Idle: the heartbeats start.
    await until(() => beats() >= 2);
  });

  it('multiplexes concurrent requests by id, whatever order the answers come in', async () => {
    const pending: { id: number; ws: WebSocket; endpoint: string }[] = [];
    const server = await scriptedServer((endpoint, id, ws) => pending.push({ endpoint, id, ws }));
    cleanups.push(server.close);
    const { s } = socket(server.url);
    await s.connect(1_000);
    await s.authorize('tok', 1_000);
    const a = s.request({ endpoint: 'account/list' }, 1_000);
    const b = s.request({ endpoint: 'position/deps', query: { masterid: 1 } }, 1_000);
    await until(() => pending.length === 2);
    const ws = pending[0]!.ws;
    ws.send(
      `a${JSON.stringify([
        { i: pending[1]!.id, s: 200, d: ['positions'] },
        { i: pending[0]!.id, s: 200, d: ['accounts'] },
      ])}`,
    );
    expect(await a).toMatchObject({ kind: 'response', status: 200, body: ['accounts'] });
    expect(await b).toMatchObject({ kind: 'response', status: 200, body: ['positions'] });
  });

  it('times a request out as sent-but-unanswered', async () => {
    const server = await scriptedServer();
    cleanups.push(server.close);
    const { s } = socket(server.url);
    await s.connect(1_000);
    await s.authorize('tok', 1_000);
    expect(await s.request({ endpoint: 'order/placeorder', body: { x: 1 } }, 50)).toEqual({
      kind: 'failed',
      failure: 'timeout',
      sent: true,
    });
  });

  it('fails every in-flight request as dropped when the venue closes with a c frame', async () => {
    const server = await scriptedServer((_e, _id, ws) => ws.send('c[3000,"Go away!"]'));
    cleanups.push(server.close);
    const { s, closes } = socket(server.url);
    await s.connect(1_000);
    await s.authorize('tok', 1_000);
    const answer = await s.request({ endpoint: 'order/placeorder', body: {} }, 1_000);
    expect(answer).toMatchObject({ kind: 'failed', failure: 'dropped', sent: true });
    expect(closes).toEqual([{ code: 1000, reason: 'Go away!', expected: false }]);
    expect(await s.request({ endpoint: 'account/list' }, 1_000)).toMatchObject({
      kind: 'failed',
      sent: false,
    });
  });

  it('closes itself when the venue goes silent', async () => {
    const server = await scriptedServer();
    cleanups.push(server.close);
    const { s, closes } = socket(server.url, { silenceMs: 100 });
    await s.connect(1_000);
    await s.authorize('tok', 1_000);
    await until(() => closes.length === 1);
    expect(closes[0]).toMatchObject({ reason: 'server silent', expected: false });
    expect(s.ready).toBe(false);
  });

  it('reports an unreachable venue as a failed connect', async () => {
    const { s } = socket('ws://127.0.0.1:9/v1/websocket');
    const r = await s.connect(1_000);
    expect(r.ok).toBe(false);
  });
});
