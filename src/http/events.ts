/**
 * Live dashboard updates over server-sent events. Every finished fan-out is pushed to each open
 * dashboard as a rendered table row, cut down to what that viewer may see.
 */
import type { ServerResponse } from 'node:http';
import type { SignalEnvelope } from '../domain/types.js';
import type { FanoutSummary } from '../engine/summary.js';
import type { Logger } from '../log.js';
import { type Scope, signalRow, visibleSummary } from './views.js';

interface Client {
  readonly out: ServerResponse;
  readonly scope: Scope;
}

/** How often an idle stream carries a comment, so proxies do not close it. */
const HEARTBEAT_MS = 20_000;

export class EventHub {
  private readonly clients = new Set<Client>();
  private readonly heartbeat: NodeJS.Timeout;

  constructor(private readonly log: Logger) {
    this.heartbeat = setInterval(() => this.broadcast(': heartbeat\n\n'), HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  /** How many dashboards are listening. */
  get size(): number {
    return this.clients.size;
  }

  /** Adopt a response as an event stream for a viewer with this scope. */
  attach(out: ServerResponse, scope: Scope): void {
    out.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-store, no-transform',
      connection: 'keep-alive',
      // nginx buffers responses unless told not to; a buffered event stream is not live.
      'x-accel-buffering': 'no',
    });
    out.write('retry: 3000\n: connected\n\n');
    const client: Client = { out, scope };
    this.clients.add(client);
    out.on('close', () => this.clients.delete(client));
  }

  /** Push a finished fan-out to every stream whose viewer may see part of it. */
  fanout(summary: FanoutSummary, envelope: SignalEnvelope): void {
    for (const client of this.clients) {
      const visible = visibleSummary(summary, client.scope);
      if (!visible) continue;
      const row = signalRow({
        id: summary.signalId,
        at: envelope.receivedAt,
        source: envelope.source,
        principal: envelope.principal,
        signal: envelope.signal,
        status: 'done',
        summary: visible,
      });
      this.write(
        client,
        `event: signal\ndata: ${JSON.stringify({ signalId: summary.signalId, row: row.value })}\n\n`,
      );
    }
  }

  /** End every stream (the server is closing). */
  close(): void {
    clearInterval(this.heartbeat);
    for (const client of this.clients) client.out.end();
    this.clients.clear();
  }

  private broadcast(text: string): void {
    for (const client of this.clients) this.write(client, text);
  }

  private write(client: Client, text: string): void {
    try {
      client.out.write(text);
    } catch (error) {
      this.log.debug({ err: error }, 'dropping a closed event stream');
      this.clients.delete(client);
    }
  }
}
