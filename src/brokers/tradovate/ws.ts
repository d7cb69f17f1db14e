/**
 * Tradovate's WebSocket protocol: the frame codec (pure) and one multiplexed trading socket.
 *
 * Server frames: `o` (open), `h` (heartbeat), `a[...]` (responses and events), `c[code,"reason"]`.
 * Client messages: `endpoint\nid\nquery\nbody`, with `authorize\nid\n\ntoken` first and `[]` as
 * the heartbeat once the client has sent nothing for 2.5 s. Responses carry the request id as `i`,
 * so one socket serves every request of a credential concurrently.
 */
import { isIP, type NetConnectOpts, connect as netConnect, type Socket } from 'node:net';
import { type ConnectionOptions as TlsConnectionOptions, connect as tlsConnect } from 'node:tls';
import WebSocket from 'ws';
import type { Result } from '../../domain/result.js';
import { err, ok } from '../../domain/result.js';
import type { WsMessage } from './parse.js';
import { parseWsMessages } from './parse.js';
import type { TransportAnswer, VenueRequest } from './rest.js';
import { encodeQuery } from './rest.js';
import type { Logger } from './types.js';

export type Frame =
  | { readonly type: 'open' }
  | { readonly type: 'heartbeat' }
  | { readonly type: 'messages'; readonly messages: readonly WsMessage[] }
  | { readonly type: 'close'; readonly code: number; readonly reason: string }
  | { readonly type: 'invalid'; readonly text: string };

/** The client heartbeat. */
export const CLIENT_HEARTBEAT = '[]';

/** Decode one server frame. */
export function decodeFrame(text: string): Frame {
  if (text === 'o') return { type: 'open' };
  if (text === 'h') return { type: 'heartbeat' };
  const kind = text[0];
  if (kind === 'a' || kind === 'c') {
    let payload: unknown;
    try {
      payload = JSON.parse(text.slice(1));
    } catch {
      return { type: 'invalid', text };
    }
    if (!Array.isArray(payload)) return { type: 'invalid', text };
    if (kind === 'a') return { type: 'messages', messages: parseWsMessages(payload) };
    const [code, reason] = payload;
    return {
      type: 'close',
      code: typeof code === 'number' ? code : 0,
      reason: typeof reason === 'string' ? reason : '',
    };
  }
  return { type: 'invalid', text };
}

/** Encode a request: all four fields are always present, empty ones as empty lines. */
export function encodeRequest(id: number, request: VenueRequest): string {
  const body = request.body ? JSON.stringify(request.body) : '';
  return `${request.endpoint}\n${id}\n${encodeQuery(request.query)}\n${body}`;
}

/** Encode the authorization request; the body is the raw token, not JSON. */
export function encodeAuthorize(id: number, token: string): string {
  return `authorize\n${id}\n\n${token}`;
}

export interface SocketOptions {
  readonly url: string;
  readonly credentialId: string;
  readonly log: Logger;
  /** The longest the client stays silent, ms (Tradovate: 2.5 s); a heartbeat fills longer gaps. */
  readonly heartbeatMs: number;
  /** Close the socket when the server has been silent this long, ms (it sends `h` every ~2.5 s). */
  readonly silenceMs: number;
  readonly onEvent: (event: string, data: unknown) => void;
  readonly onClose: (info: { code: number; reason: string; expected: boolean }) => void;
}

interface Pending {
  readonly resolve: (answer: TransportAnswer) => void;
  readonly timer: NodeJS.Timeout;
}

export type SocketState = 'connecting' | 'open' | 'authorized' | 'closed';

/** One Tradovate WebSocket, shared by every request of one credential. */
export class TradovateSocket {
  private ws: WebSocket | null = null;
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  private heartbeat: NodeJS.Timeout | null = null;
  private lastReceived = Date.now();
  /** When the client last wrote a frame: a socket busy with requests needs no heartbeat. */
  private lastSent = Date.now();
  private closing = false;
  private opened: ((r: Result<void, string>) => void) | null = null;
  private _state: SocketState = 'connecting';
  /** The TCP (or TLS) connection under the WebSocket, corked while a burst of requests is written. */
  private transport: Socket | null = null;
  private corked = false;
  /** Set by a `shutdown` event: finish what is in flight, take nothing new. */
  draining = false;
  lastUsed = Date.now();

  constructor(private readonly options: SocketOptions) {}

  get state(): SocketState {
    return this._state;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /** Usable for new requests. */
  get ready(): boolean {
    return this._state === 'authorized' && !this.draining && this.ws?.readyState === WebSocket.OPEN;
  }

  /** Connect and wait for the server's `o` frame. */
  connect(timeoutMs: number): Promise<Result<void, string>> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(err('connect timeout')), timeoutMs);
      const finish = (r: Result<void, string>) => {
        if (!this.opened) return;
        this.opened = null;
        clearTimeout(timer);
        if (!r.ok) this.close('connect failed', 1000, false);
        resolve(r);
      };
      this.opened = finish;
      let ws: WebSocket;
      try {
        ws = new WebSocket(this.options.url, {
          handshakeTimeout: timeoutMs,
          // The same connection ws would open, kept at hand so bursts of requests can be corked.
          // `path` is the URL's path here, not a socket path: cleared as ws itself does.
          createConnection: ((
            options: NetConnectOpts & { servername?: string; host?: string; socketPath?: string },
          ) => {
            const socket = this.options.url.startsWith('wss:')
              ? tlsConnect({
                  ...(options as TlsConnectionOptions),
                  path: undefined,
                  servername: options.servername ?? (isIP(options.host ?? '') ? '' : options.host),
                } as TlsConnectionOptions)
              : netConnect({ ...options, path: options.socketPath } as NetConnectOpts);
            this.transport = socket;
            return socket;
          }) as typeof netConnect,
        });
      } catch (e) {
        finish(err(e instanceof Error ? e.message : 'bad websocket url'));
        return;
      }
      this.ws = ws;
      ws.on('message', (data: WebSocket.RawData) => this.onFrame(data.toString()));
      ws.on('error', (e: Error) => {
        this.options.log.debug(
          { credentialId: this.options.credentialId, err: e.message },
          'websocket error',
        );
        finish(err(e.message));
      });
      ws.on('close', (code: number, reason: Buffer) => {
        finish(err(`closed before open (${code})`));
        this.onClosed(code, reason.toString());
      });
    });
  }

  /** Authorize with an access token; the answer is the venue's `{i, s}` response. */
  async authorize(token: string, timeoutMs: number): Promise<TransportAnswer> {
    const answer = await this.exchange((id) => encodeAuthorize(id, token), timeoutMs);
    if (answer.kind === 'response' && answer.status === 200) {
      this._state = 'authorized';
      this.startHeartbeat();
    }
    return answer;
  }

  /** Send one request and wait for its response. */
  request(request: VenueRequest, timeoutMs: number): Promise<TransportAnswer> {
    this.lastUsed = Date.now();
    return this.exchange((id) => encodeRequest(id, request), timeoutMs);
  }

  /** Close on purpose; in-flight requests fail as dropped. */
  close(reason: string, code = 1000, expected = true): void {
    if (this.closing) return;
    this.closing = true;
    const ws = this.ws;
    if (ws && (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING)) {
      try {
        if (ws.readyState === WebSocket.OPEN) ws.close(code, reason.slice(0, 120));
        else ws.terminate();
      } catch {
        ws.terminate();
      }
    }
    this.onClosed(code, reason, expected);
  }

  private exchange(encode: (id: number) => string, timeoutMs: number): Promise<TransportAnswer> {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || this.closing) {
      return Promise.resolve({ kind: 'failed', failure: 'dropped', sent: false, detail: 'socket not open' });
    }
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        if (this.pending.delete(id)) resolve({ kind: 'failed', failure: 'timeout', sent: true });
      }, timeoutMs);
      this.pending.set(id, { resolve, timer });
      try {
        this.cork();
        ws.send(encode(id));
        this.lastSent = Date.now();
      } catch (e) {
        clearTimeout(timer);
        this.pending.delete(id);
        resolve({
          kind: 'failed',
          failure: 'dropped',
          sent: false,
          detail: e instanceof Error ? e.message : 'send failed',
        });
      }
    });
  }

  /**
   * Requests sent in the same turn leave in one write: the connection is corked at the first and
   * uncorked once the turn's callbacks have run. Nothing waits longer than that turn.
   */
  private cork(): void {
    const transport = this.transport;
    if (!transport || this.corked) return;
    this.corked = true;
    transport.cork();
    process.nextTick(() => {
      this.corked = false;
      transport.uncork();
    });
  }

  private onFrame(text: string): void {
    this.lastReceived = Date.now();
    const frame = decodeFrame(text);
    switch (frame.type) {
      case 'open':
        if (this._state === 'connecting') this._state = 'open';
        this.opened?.(ok(undefined));
        return;
      case 'heartbeat':
        return;
      case 'close':
        this.options.log.info(
          { credentialId: this.options.credentialId, code: frame.code, reason: frame.reason },
          'server closed the websocket',
        );
        this.close(frame.reason || 'server close', 1000, false);
        return;
      case 'invalid':
        // Only the shape: a frame may carry account data or tokens, which stay out of the logs.
        this.options.log.warn(
          { credentialId: this.options.credentialId, length: text.length, kind: text.slice(0, 1) },
          'unreadable frame',
        );
        return;
      case 'messages':
        for (const m of frame.messages) {
          if (m.type === 'response') {
            const p = this.pending.get(m.id);
            if (!p) continue;
            this.pending.delete(m.id);
            clearTimeout(p.timer);
            p.resolve({
              kind: 'response',
              status: m.status,
              body: m.body,
              text: typeof m.body === 'string' ? m.body : '',
            });
          } else {
            if (m.event === 'shutdown') this.draining = true;
            this.options.onEvent(m.event, m.data);
          }
        }
    }
  }

  private startHeartbeat(): void {
    if (this.heartbeat) return;
    this.armHeartbeat(this.options.heartbeatMs);
  }

  /**
   * Tradovate's guidance: measure the time since the client's last message and send `[]` once it
   * reaches 2.5 s. A socket sending requests needs none; the timer wakes when the silence would
   * reach the limit, so an idle socket beats every 2.5 s and a busy one never does.
   */
  private armHeartbeat(delayMs: number): void {
    this.heartbeat = setTimeout(() => this.beat(), delayMs);
    this.heartbeat.unref();
  }

  private beat(): void {
    this.heartbeat = null;
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || this._state === 'closed') return;
    const now = Date.now();
    if (now - this.lastReceived > this.options.silenceMs) {
      this.options.log.warn({ credentialId: this.options.credentialId }, 'websocket silent; closing');
      ws.terminate();
      this.onClosed(1006, 'server silent', false);
      return;
    }
    let silent = now - this.lastSent;
    if (silent >= this.options.heartbeatMs) {
      ws.send(CLIENT_HEARTBEAT);
      this.lastSent = now;
      silent = 0;
    }
    this.armHeartbeat(this.options.heartbeatMs - silent);
  }

  private onClosed(code: number, reason: string, expected = false): void {
    if (this._state === 'closed') return;
    this._state = 'closed';
    this.closing = true;
    if (this.heartbeat) clearTimeout(this.heartbeat);
    this.heartbeat = null;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.resolve({ kind: 'failed', failure: 'dropped', sent: true, detail: reason || `closed (${code})` });
    }
    this.options.onClose({ code, reason, expected });
  }
}
