/**
 * The socket pool: at most one trading WebSocket per credential, opened on first use, shared by all
 * of that credential's requests. Tradovate closes a user's oldest connections past its quota and
 * asked clients to share one socket instead of opening many, hence one per credential and a cap on
 * the total; past the cap the socket idle the longest is closed first. A socket that cannot be
 * opened sends the caller to REST, and the credential waits out a backoff before the next attempt.
 */
import type { TransportAnswer } from './rest.js';
import type { Clock, Logger } from './types.js';
import { TradovateSocket } from './ws.js';

export interface PoolOptions {
  /** Most sockets open at once; 0 turns WebSockets off (REST only). */
  readonly maxSockets: number;
  /** Close a socket unused this long, ms. */
  readonly idleMs: number;
  /** The longest a socket stays silent before it sends a heartbeat, ms. */
  readonly heartbeatMs: number;
  /** Consider a socket dead after this much server silence, ms. */
  readonly silenceMs: number;
  /** First reconnect delay after a failure, ms; doubles per failure up to `backoffMaxMs`. */
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  /** Send `user/syncrequest` after authorizing, so `props` events stream. */
  readonly sync: boolean;
}

export const DEFAULT_POOL: PoolOptions = {
  maxSockets: 500,
  idleMs: 10 * 60_000,
  heartbeatMs: 2_500,
  silenceMs: 10_000,
  backoffBaseMs: 500,
  backoffMaxMs: 30_000,
  sync: false,
};

/** What the pool offers a request. */
export type Acquired =
  | { readonly kind: 'socket'; readonly socket: TradovateSocket }
  /** The venue answered the authorization with a non-200 (401, 429...): handled like any answer. */
  | { readonly kind: 'refused'; readonly answer: TransportAnswer }
  /** No socket now; use REST. */
  | { readonly kind: 'none'; readonly reason: string };

interface Entry {
  socket: TradovateSocket | null;
  connecting: Promise<Acquired> | null;
  failures: number;
  retryAt: number;
}

export interface PoolDeps {
  readonly url: string;
  readonly options: PoolOptions;
  readonly log: Logger;
  readonly clock: Clock;
  readonly connectTimeoutMs: number;
  readonly authTimeoutMs: number;
  readonly onEvent: (credentialId: string, event: string, data: unknown) => void;
  /** Called after a socket is authorized (to send `user/syncrequest`). */
  readonly onAuthorized?: (credentialId: string, socket: TradovateSocket) => void;
  /** Called when an authorized socket drops unexpectedly. */
  readonly onDrop?: (credentialId: string, retryInMs: number) => void;
}

export class SocketPool {
  private readonly entries = new Map<string, Entry>();
  private readonly sweeper: NodeJS.Timeout | null;
  private closed = false;
  /** Sockets ever opened per credential, for tests and metrics. */
  readonly opened = new Map<string, number>();

  constructor(private readonly deps: PoolDeps) {
    const every = Math.max(1_000, Math.min(60_000, deps.options.idleMs / 4));
    this.sweeper = deps.options.maxSockets > 0 ? setInterval(() => this.sweep(), every) : null;
    this.sweeper?.unref();
  }

  get enabled(): boolean {
    return this.deps.options.maxSockets > 0 && !this.closed;
  }

  /** Sockets open or opening. */
  get size(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.socket || e.connecting) n++;
    return n;
  }

  /** The credential's socket when it is open and authorized, without waiting; null otherwise. */
  ready(credentialId: string): TradovateSocket | null {
    if (this.closed) return null;
    const socket = this.entries.get(credentialId)?.socket;
    if (!socket?.ready) return null;
    socket.lastUsed = Date.now();
    return socket;
  }

  /** The credential's socket, opening it (authorized with `token`) when there is none. */
  async acquire(credentialId: string, token: string): Promise<Acquired> {
    if (!this.enabled) return { kind: 'none', reason: 'websockets disabled' };
    let e = this.entries.get(credentialId);
    if (!e) {
      e = { socket: null, connecting: null, failures: 0, retryAt: 0 };
      this.entries.set(credentialId, e);
    }
    if (e.socket) {
      if (e.socket.ready) {
        e.socket.lastUsed = Date.now();
        return { kind: 'socket', socket: e.socket };
      }
      if (e.socket.draining) {
        // Asked to go away: no new requests on it, and no second socket until it is gone.
        if (e.socket.inFlight === 0) e.socket.close('shutdown requested');
        else return { kind: 'none', reason: 'socket draining' };
      }
    }
    if (e.connecting) return e.connecting;
    if (this.deps.clock.now() < e.retryAt) return { kind: 'none', reason: 'reconnect backoff' };
    if (this.size >= this.deps.options.maxSockets && !this.evictIdlest())
      return { kind: 'none', reason: 'pool full' };
    const entry = e;
    const connecting = this.open(credentialId, entry, token).finally(() => {
      entry.connecting = null;
    });
    entry.connecting = connecting;
    return connecting;
  }

  /** Close the credential's socket (its authorization is stale) without backoff. */
  discard(credentialId: string, reason: string): void {
    const e = this.entries.get(credentialId);
    if (e?.socket) {
      const s = e.socket;
      e.socket = null;
      s.close(reason);
    }
  }

  /** Close every socket; in-flight requests fail as dropped. */
  close(): void {
    this.closed = true;
    if (this.sweeper) clearInterval(this.sweeper);
    for (const e of this.entries.values()) {
      const s = e.socket;
      e.socket = null;
      s?.close('broker closing');
    }
    this.entries.clear();
  }

  private async open(credentialId: string, entry: Entry, token: string): Promise<Acquired> {
    const { log } = this.deps;
    const socket = new TradovateSocket({
      url: this.deps.url,
      credentialId,
      log,
      heartbeatMs: this.deps.options.heartbeatMs,
      silenceMs: this.deps.options.silenceMs,
      onEvent: (event, data) => this.deps.onEvent(credentialId, event, data),
      onClose: (info) => this.onClose(credentialId, socket, info),
    });
    this.opened.set(credentialId, (this.opened.get(credentialId) ?? 0) + 1);
    const connected = await socket.connect(this.deps.connectTimeoutMs);
    if (!connected.ok) {
      this.fail(credentialId, entry, `connect: ${connected.error}`);
      return { kind: 'none', reason: 'connect failed' };
    }
    const answer = await socket.authorize(token, this.deps.authTimeoutMs);
    if (answer.kind === 'response' && answer.status === 200) {
      if (this.closed) {
        socket.close('broker closing');
        return { kind: 'none', reason: 'closed' };
      }
      entry.socket = socket;
      entry.failures = 0;
      log.debug({ credentialId }, 'websocket authorized');
      this.deps.onAuthorized?.(credentialId, socket);
      return { kind: 'socket', socket };
    }
    socket.close('authorization failed');
    if (answer.kind === 'response') return { kind: 'refused', answer };
    this.fail(credentialId, entry, `authorize: ${answer.failure}`);
    return { kind: 'none', reason: 'authorize failed' };
  }

  private fail(credentialId: string, entry: Entry, why: string): void {
    entry.failures++;
    const delay = this.backoff(entry.failures);
    entry.retryAt = this.deps.clock.now() + delay;
    this.deps.log.warn({ credentialId, why, retryInMs: delay }, 'websocket unavailable; using REST');
  }

  private backoff(failures: number): number {
    const { backoffBaseMs, backoffMaxMs } = this.deps.options;
    const exp = Math.min(backoffMaxMs, backoffBaseMs * 2 ** Math.max(0, failures - 1));
    // Jitter spreads the reconnects of many credentials dropped by the same outage.
    return Math.round(exp * (0.75 + Math.random() * 0.5));
  }

  private onClose(
    credentialId: string,
    socket: TradovateSocket,
    info: { code: number; reason: string; expected: boolean },
  ): void {
    const e = this.entries.get(credentialId);
    if (!e || e.socket !== socket) return;
    e.socket = null;
    if (info.expected || this.closed) return;
    e.failures++;
    const delay = this.backoff(e.failures);
    e.retryAt = this.deps.clock.now() + delay;
    this.deps.log.warn(
      { credentialId, code: info.code, reason: info.reason, retryInMs: delay },
      'websocket dropped',
    );
    this.deps.onDrop?.(credentialId, delay);
  }

  /** Close the socket idle the longest that has nothing in flight; false when every socket is busy. */
  private evictIdlest(): boolean {
    let victim: { id: string; entry: Entry; socket: TradovateSocket } | null = null;
    for (const [id, entry] of this.entries) {
      const s = entry.socket;
      if (!s || entry.connecting || s.inFlight > 0) continue;
      if (!victim || s.lastUsed < victim.socket.lastUsed) victim = { id, entry, socket: s };
    }
    if (!victim) return false;
    victim.entry.socket = null;
    victim.socket.close('pool full; idle the longest');
    this.deps.log.debug({ credentialId: victim.id }, 'closed the idlest websocket to make room');
    return true;
  }

  private sweep(): void {
    const cutoff = Date.now() - this.deps.options.idleMs;
    for (const [id, e] of this.entries) {
      const s = e.socket;
      if (s && s.inFlight === 0 && s.lastUsed < cutoff) {
        e.socket = null;
        s.close('idle');
      }
      if (!e.socket && !e.connecting && e.retryAt < this.deps.clock.now()) this.entries.delete(id);
    }
  }
}
