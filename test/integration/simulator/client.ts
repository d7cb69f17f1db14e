/**
 * A deliberately raw Tradovate client (fetch and ws, nothing else) for the simulator's own tests:
 * it speaks the wire protocol as documented, so the tests prove the protocol, not an adapter.
 */
import WebSocket from 'ws';
import type { SimUserOption, Simulator } from '../../fakes/tradovate/server.js';

/** Wire JSON as the tests read it: field by field, with the assertions doing the type checking. */
// biome-ignore lint/suspicious/noExplicitAny: payloads are checked by the assertions that read them
export type Wire = any;

export interface RestAnswer {
  readonly status: number;
  /** Parsed JSON when the body is JSON, the text otherwise, null when empty. */
  readonly body: Wire;
  readonly text: string;
}

export interface RestCall {
  readonly method?: string;
  readonly body?: unknown;
  /** Send the body form-encoded instead of JSON. */
  readonly form?: boolean;
  readonly token?: string;
  readonly signal?: AbortSignal;
}

/** `endpoint` is relative to the REST base URL (`order/list?x=1`) or absolute. */
export async function rest(sim: Simulator, endpoint: string, call: RestCall = {}): Promise<RestAnswer> {
  const url = /^https?:/.test(endpoint) ? endpoint : `${sim.restUrl}/${endpoint}`;
  const headers: Record<string, string> = { accept: 'application/json' };
  if (call.token) headers.authorization = `Bearer ${call.token}`;
  let body: string | undefined;
  if (call.body !== undefined) {
    if (call.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(call.body as Record<string, string>).toString();
    } else {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(call.body);
    }
  }
  const res = await fetch(url, {
    method: call.method ?? (body === undefined ? 'GET' : 'POST'),
    headers,
    ...(body === undefined ? {} : { body }),
    ...(call.signal ? { signal: call.signal } : {}),
    redirect: 'manual',
  });
  const text = await res.text();
  let parsed: unknown = null;
  if (text !== '') {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  return { status: res.status, body: parsed, text };
}

export function credentials(user: SimUserOption): Record<string, unknown> {
  return {
    name: user.name,
    password: user.password,
    appId: user.appId,
    appVersion: '1.0',
    cid: user.cid,
    sec: user.sec,
    deviceId: 'sim-test-device',
  };
}

/** Log in with the API-key flow; throws when the simulator refuses. */
export async function login(
  sim: Simulator,
  user: SimUserOption,
): Promise<{ accessToken: string; [k: string]: Wire }> {
  const res = await rest(sim, 'auth/accesstokenrequest', { body: credentials(user) });
  if (res.status !== 200 || !res.body?.accessToken)
    throw new Error(`login failed: ${res.status} ${res.text}`);
  return res.body;
}

export type WsMessage = { i?: number | null; s?: number; d?: Wire; e?: string };

/** One Tradovate WebSocket: raw frames in, parsed `a[...]` messages out. */
export class WsClient {
  /** Every frame as received (`o`, `h`, `a[...]`, `c[...]`). */
  readonly frames: string[] = [];
  /** Every message inside `a[...]` frames, in order. */
  readonly messages: WsMessage[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private nextId = 1;
  private heartbeat: NodeJS.Timeout | null = null;

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    ws.on('message', (data) => {
      const text = data.toString();
      this.frames.push(text);
      if (text.startsWith('a')) this.messages.push(...(JSON.parse(text.slice(1)) as WsMessage[]));
    });
  }

  /** Connect and wait for the server's `o` frame. */
  static async connect(url: string): Promise<WsClient> {
    const client = new WsClient(new WebSocket(url));
    await waitFor(() => client.frames.includes('o'), 5000, 'the open frame');
    return client;
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(text: string): void {
    this.ws.send(text);
  }

  /** Send `endpoint\nid\nquery\nbody` and wait for the response with that id. */
  async request(endpoint: string, body?: unknown, query = ''): Promise<WsMessage> {
    const id = this.nextId++;
    this.send(`${endpoint}\n${id}\n${query}\n${body === undefined ? '' : JSON.stringify(body)}`);
    return this.response(id);
  }

  async authorize(token: string): Promise<WsMessage> {
    const id = this.nextId++;
    this.send(`authorize\n${id}\n\n${token}`);
    return this.response(id);
  }

  response(id: number, timeoutMs = 5000): Promise<WsMessage> {
    return waitFor(
      () => this.messages.find((m) => m.i === id && m.s !== undefined),
      timeoutMs,
      `response ${id}`,
    );
  }

  /** Events (`e`) received so far, optionally of one kind. */
  events(kind?: string): WsMessage[] {
    return this.messages.filter((m) => m.e !== undefined && (kind === undefined || m.e === kind));
  }

  /** Send `[]` every `ms`, as a client must. */
  startHeartbeat(ms: number): void {
    this.heartbeat = setInterval(() => {
      if (this.isOpen) this.send('[]');
    }, ms);
  }

  close(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.ws.terminate();
  }
}

/** Poll until `check` returns something truthy; the tests wait on conditions, never on fixed sleeps. */
export async function waitFor<T>(
  check: () => T | undefined | null | false,
  timeoutMs = 5000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
