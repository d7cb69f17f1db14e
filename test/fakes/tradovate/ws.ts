/**
 * Tradovate's WebSocket protocol (reference §4): SockJS-style frames (`o`, `h`, `a[...]`, `c[code,"reason"]`),
 * `authorize`, requests `endpoint\nid\nquery\nbody` answered through the same pipeline as REST,
 * `user/syncrequest` snapshots followed by `props` events, heartbeats both ways, and `shutdown`.
 *
 * Socket timers run on wall-clock time, not the injectable clock, so a test that freezes the clock
 * to expire tokens does not also freeze heartbeats.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { Api, type RequestLog } from './api.js';
import type { AuthService, Session } from './auth.js';
import type { EntityChange, EntityStore } from './entities.js';
import { DelayLine } from './faults.js';
import type { SyncScope, TradovateState } from './state.js';
import type { Clock, Faults, WebSocketOptions } from './types.js';

export type ShutdownReason = 'ConnectionQuotaReached' | 'IPQuotaReached' | 'Maintenance' | (string & {});

export const DEFAULT_WS_OPTIONS: Required<WebSocketOptions> = {
  heartbeatMs: 2500,
  clientTimeoutMs: 15_000,
  authorizeTimeoutMs: 10_000,
  maxSocketsPerUser: 50,
  strictAuthorizeToken: false,
  syncRequiresEntityTypes: false,
};

/** Close code inside `c[...]` frames; the only one seen in the wild is 3000 (`c[3000,"Go away!"]`). */
const CLOSE_FRAME_CODE = 3000;

interface Frame {
  readonly endpoint: string;
  readonly id: number;
  readonly query: string;
  readonly body: string;
}

/**
 * Split a request on its first three newlines only: the body is JSON and may contain newlines.
 * Missing trailing fields, `undefined` placeholders and trailing newlines are tolerated.
 */
export function parseFrame(text: string): Frame | null {
  const parts: string[] = [];
  let rest = text;
  for (let i = 0; i < 3; i++) {
    const nl = rest.indexOf('\n');
    if (nl < 0) break;
    parts.push(rest.slice(0, nl));
    rest = rest.slice(nl + 1);
  }
  parts.push(rest);
  const endpoint = (parts[0] ?? '').trim();
  const idText = (parts[1] ?? '').trim();
  if (endpoint === '' || !/^-?\d+$/.test(idText)) return null;
  const clean = (s: string | undefined) => {
    const t = (s ?? '').trim();
    return t === 'undefined' || t === 'null' ? '' : t;
  };
  return { endpoint, id: Number(idText), query: clean(parts[2]), body: clean(parts[3]) };
}

class SimSocket {
  session: Session | null = null;
  authorizedAt = 0;
  scope: SyncScope | null = null;
  requests = 0;
  lastReceived: number;
  lastSent: number;
  readonly openedAt: number;
  private readonly outbox: unknown[] = [];
  private flushScheduled = false;
  /** The network each way, when the simulator has one: in order, each message no earlier than its delay. */
  readonly inbound: DelayLine | null;
  private readonly outbound: DelayLine | null;

  constructor(
    readonly ws: WebSocket,
    readonly ip: string,
    private readonly network: (() => number) | null = null,
  ) {
    this.inbound = network ? new DelayLine() : null;
    this.outbound = network ? new DelayLine() : null;
    this.openedAt = Date.now();
    this.lastReceived = this.openedAt;
    this.lastSent = this.openedAt;
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(text: string): void {
    if (!this.open) return;
    this.ws.send(text);
    this.lastSent = Date.now();
  }

  /** Queue a message; everything queued in the same turn goes out in one `a[...]` frame. */
  enqueue(message: unknown): void {
    if (this.outbound && this.network) {
      this.outbound.push(this.network(), () => this.queue(message));
      return;
    }
    this.queue(message);
  }

  private queue(message: unknown): void {
    this.outbox.push(message);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  flush(): void {
    this.flushScheduled = false;
    if (this.outbox.length === 0) return;
    const batch = this.outbox.splice(0);
    this.send(`a${JSON.stringify(batch)}`);
  }

  /** `c[code,"reason"]`, then the WebSocket close. */
  closeWith(reason: string): void {
    this.inbound?.clear();
    this.outbound?.clear();
    this.flush();
    this.send(`c${JSON.stringify([CLOSE_FRAME_CODE, reason])}`);
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
      this.ws.close(1000, reason);
    }
  }
}

export interface SocketHubDeps {
  readonly api: Api;
  readonly auth: AuthService;
  readonly state: TradovateState;
  readonly store: EntityStore;
  readonly log: RequestLog;
  readonly clock: Clock;
  readonly faults: Faults;
  /** One-way network delay draws; null for none. */
  readonly network?: (() => number) | null;
  readonly options: Required<WebSocketOptions>;
}

export class SocketHub {
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly sockets = new Set<SimSocket>();
  /** Sockets that sent `user/syncrequest`: the only ones `props` events go to. */
  private readonly synced = new Set<SimSocket>();
  private readonly ticker: NodeJS.Timeout;
  /** Listening to the store while some socket is synced: with none, changes cost nothing here. */
  private unsubscribe: (() => void) | null = null;

  constructor(private readonly deps: SocketHubDeps) {
    const o = deps.options;
    const tick = Math.min(
      500,
      Math.max(5, Math.min(o.heartbeatMs, o.clientTimeoutMs, o.authorizeTimeoutMs) / 5),
    );
    this.ticker = setInterval(() => this.tick(), tick);
    this.ticker.unref();
    deps.auth.onSessionClosed((session, reason) => {
      for (const s of this.sockets) if (s.session?.id === session.id) s.closeWith(reason);
    });
  }

  /** Take over an HTTP upgrade on `/v1/websocket`; anything else is refused. */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = new URL(request.url ?? '/', 'http://127.0.0.1').pathname;
    if (!/^\/v1\/websocket\/?$/i.test(path)) {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(request, socket, head, (ws) => this.onConnection(ws, request));
  }

  /** Open authorized sockets of a user. */
  countFor(userName: string): number {
    let n = 0;
    for (const s of this.sockets) if (s.open && s.session?.userName === userName) n++;
    return n;
  }

  /** Push `shutdown` with the reason code to every socket of the user, then close them. */
  shutdown(userName: string, reasonCode: ShutdownReason, reason?: string): number {
    let n = 0;
    for (const s of [...this.sockets]) {
      if (s.session?.userName !== userName) continue;
      this.shutdownSocket(s, reasonCode, reason);
      n++;
    }
    return n;
  }

  close(): void {
    clearInterval(this.ticker);
    this.unsubscribe?.();
    this.unsubscribe = null;
    for (const s of this.sockets) s.ws.terminate();
    this.sockets.clear();
    this.wss.close();
  }

  private onConnection(ws: WebSocket, request: IncomingMessage): void {
    const network = this.deps.network ?? null;
    const sock = new SimSocket(ws, request.socket.remoteAddress ?? '127.0.0.1', network);
    this.sockets.add(sock);
    ws.on('message', (data) => {
      if (sock.inbound && network) sock.inbound.push(network(), () => this.onMessage(sock, data));
      else this.onMessage(sock, data);
    });
    ws.on('close', () => this.forget(sock));
    ws.on('error', () => this.forget(sock));
    sock.send('o');
  }

  private onMessage(sock: SimSocket, data: RawData): void {
    sock.lastReceived = Date.now();
    const text = (Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer)).toString(
      'utf8',
    );
    if (text.trim() === '[]') return;
    const frame = parseFrame(text);
    if (!frame) {
      sock.enqueue({ i: null, s: 400, d: 'Malformed request' });
      return;
    }
    if (frame.endpoint.toLowerCase() === 'authorize') {
      this.authorize(sock, frame);
      return;
    }
    void this.request(sock, frame);
  }

  private authorize(sock: SimSocket, frame: Frame): void {
    let token = frame.body;
    let quoted = false;
    if (token.startsWith('"')) {
      quoted = true;
      try {
        token = String(JSON.parse(token));
      } catch {
        token = '';
      }
    }
    const session = quoted && this.deps.options.strictAuthorizeToken ? null : this.deps.auth.resolve(token);
    this.deps.log.add({
      at: new Date(this.deps.clock.now()),
      userName: session?.userName ?? null,
      endpoint: 'authorize',
      method: 'WS',
      transport: 'ws',
      status: session ? 200 : 401,
    });
    if (!session) {
      sock.enqueue({ i: frame.id, s: 401, d: 'Invalid access token' });
      return;
    }
    sock.session = session;
    sock.authorizedAt = Date.now();
    sock.enqueue({ i: frame.id, s: 200 });
    this.enforceQuota(session.userName);
  }

  private async request(sock: SimSocket, frame: Frame): Promise<void> {
    let body: Record<string, unknown> | undefined;
    if (frame.body !== '') {
      try {
        const parsed: unknown = JSON.parse(frame.body);
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
          throw new Error('not an object');
        }
        body = parsed as Record<string, unknown>;
      } catch {
        sock.enqueue({ i: frame.id, s: 400, d: 'Invalid JSON body' });
        return;
      }
    }
    sock.requests++;
    const drop = this.deps.faults.dropSocketAfterMessages;
    const outcome = await this.deps.api.handle({
      transport: 'ws',
      method: 'WS',
      endpoint: frame.endpoint,
      query: new URLSearchParams(frame.query),
      body,
      ...(sock.session ? { sessionId: sock.session.id } : {}),
      ip: sock.ip,
    });
    if (drop !== null && sock.requests >= drop) {
      // A network cut: no close frame, the answer is lost.
      sock.ws.terminate();
      return;
    }
    if (!sock.open || outcome.kind === 'silence') return;
    const { status, body: answer } = outcome.response;
    if (
      status === 200 &&
      sock.session &&
      Api.normalize(frame.endpoint) === 'user/syncrequest' &&
      typeof answer === 'object' &&
      answer !== null &&
      'users' in answer
    ) {
      const user = this.deps.auth.userById(sock.session.userId)!;
      sock.scope = this.deps.state.syncScope(user, body ?? {}, this.deps.options.syncRequiresEntityTypes);
      this.synced.add(sock);
      this.unsubscribe ??= this.deps.store.onChange((change) => this.broadcast(change));
    }
    sock.enqueue(responseMessage(frame.id, status, answer));
  }

  /** A closed socket; with the last synced one gone, store changes are no longer listened to. */
  private forget(sock: SimSocket): void {
    this.sockets.delete(sock);
    if (!this.synced.delete(sock) || this.synced.size > 0) return;
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  private broadcast(change: EntityChange): void {
    if (change.accountId === null) return;
    for (const s of this.synced) {
      const scope = s.scope;
      if (!scope?.accountIds.has(change.accountId)) continue;
      if (scope.entityTypes !== null && !scope.entityTypes.has(change.entityType)) continue;
      s.enqueue({
        e: 'props',
        d: { entityType: change.entityType, eventType: change.eventType, entity: change.entity },
      });
    }
  }

  /** Past the per-user socket limit the oldest sockets are told `ConnectionQuotaReached` and closed. */
  private enforceQuota(userName: string): void {
    const mine = [...this.sockets]
      .filter((s) => s.open && s.session?.userName === userName)
      .sort((a, b) => a.authorizedAt - b.authorizedAt);
    const excess = mine.length - this.deps.options.maxSocketsPerUser;
    for (const s of mine.slice(0, Math.max(0, excess))) {
      this.shutdownSocket(s, 'ConnectionQuotaReached', 'Too many connections for this user');
    }
  }

  private shutdownSocket(s: SimSocket, reasonCode: ShutdownReason, reason?: string): void {
    s.flush();
    s.send(`a${JSON.stringify([{ e: 'shutdown', d: { reasonCode, ...(reason ? { reason } : {}) } }])}`);
    s.closeWith(reason ?? reasonCode);
    this.forget(s);
  }

  private tick(): void {
    const now = Date.now();
    const o = this.deps.options;
    for (const s of [...this.sockets]) {
      if (!s.open) continue;
      if (!s.session && now - s.openedAt >= o.authorizeTimeoutMs) {
        s.closeWith('Unauthorized');
        this.forget(s);
      } else if (now - s.lastReceived >= o.clientTimeoutMs) {
        s.closeWith('Heartbeat timeout');
        this.forget(s);
      } else if (now - s.lastSent >= o.heartbeatMs) {
        s.send('h');
      }
    }
  }
}

/** `{"i","s","d"}`: `d` is the JSON body for 2xx and an error string otherwise; a 429 has no `d`. */
function responseMessage(id: number, status: number, body: unknown): Record<string, unknown> {
  if (status === 429) return { s: 429, i: id };
  if (status >= 200 && status < 300) {
    return body === undefined ? { i: id, s: status } : { i: id, s: status, d: body };
  }
  const text = typeof body === 'string' ? body : body === undefined ? `HTTP ${status}` : JSON.stringify(body);
  return { i: id, s: status, d: text };
}
