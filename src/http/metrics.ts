/**
 * Prometheus metrics, one registry per server. Order counters are taken from the journal when a
 * fan-out finishes (the journal is flushed by then), so after a fan-out they equal the journal's
 * counts for the signals this process ran. Adapter figures (budgets, sockets, token expiries) are
 * read when scraped.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { ORDER_STATES } from '../domain/orders.js';
import type { SignalEnvelope } from '../domain/types.js';
import type { FanoutSummary } from '../engine/summary.js';
import type { Logger } from '../log.js';
import type { HttpStores, TradovateExtras } from './ports.js';

export interface MetricsDeps {
  readonly stores: Pick<HttpStores, 'journal' | 'credentials'>;
  readonly tradovate: TradovateExtras | null;
  readonly log: Logger;
}

const WINDOWS = ['second', 'minute', 'hour'] as const;

export class HttpMetrics {
  readonly registry = new Registry();
  private readonly signals: Counter<'source'>;
  private readonly orders: Counter<'state'>;
  private readonly outcomes: Counter<'outcome'>;
  private readonly fanoutSeconds: Histogram<'source'>;
  private readonly webhookSeconds: Histogram<'status'>;
  /** Journal reads started by finished fan-outs and not yet counted. */
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly deps: MetricsDeps) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'tradecast_' });
    this.signals = new Counter({
      name: 'tradecast_signals_total',
      help: 'Signals whose fan-out finished, by source (command, channel, alert, webhook).',
      labelNames: ['source'],
      registers,
    });
    this.orders = new Counter({
      name: 'tradecast_orders_total',
      help: 'Account orders by journal state at the end of their fan-out.',
      labelNames: ['state'],
      registers,
    });
    this.outcomes = new Counter({
      name: 'tradecast_account_outcomes_total',
      help: 'Per-account outcomes of finished fan-outs (filled, working, flat, rejected, skipped, unknown).',
      labelNames: ['outcome'],
      registers,
    });
    for (const state of ORDER_STATES) this.orders.inc({ state }, 0);
    this.fanoutSeconds = new Histogram({
      name: 'tradecast_fanout_duration_seconds',
      help: 'Time from intake to the last account outcome of a fan-out.',
      labelNames: ['source'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers,
    });
    this.webhookSeconds = new Histogram({
      name: 'tradecast_webhook_answer_seconds',
      help: 'Time to answer a TradingView webhook request, by HTTP status (TradingView gives up after 3 s).',
      labelNames: ['status'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5],
      registers,
    });
    this.adapterGauges(registers);
  }

  /** Count a finished fan-out: its signal, outcomes, duration, and its journal rows by state. */
  fanout(summary: FanoutSummary, envelope: SignalEnvelope): void {
    this.signals.inc({ source: envelope.source });
    this.fanoutSeconds.observe({ source: envelope.source }, summary.durationMs / 1000);
    const outcomes: Record<string, number> = {
      filled: summary.filled,
      working: summary.working,
      flat: summary.flat,
      rejected: summary.rejected.reduce((n, r) => n + r.count, 0),
      skipped: summary.skipped.reduce((n, r) => n + r.count, 0),
      unknown: summary.unknown,
    };
    for (const [outcome, n] of Object.entries(outcomes)) this.outcomes.inc({ outcome }, n);
    const counting = this.deps.stores.journal
      .countsByState(summary.signalId)
      .then((counts) => {
        for (const [state, n] of Object.entries(counts)) if (n > 0) this.orders.inc({ state }, n);
      })
      .catch((error: unknown) =>
        this.deps.log.warn({ err: error, signalId: summary.signalId }, 'could not count journal rows'),
      )
      .finally(() => this.pending.delete(counting));
    this.pending.add(counting);
  }

  webhookAnswered(status: number, seconds: number): void {
    this.webhookSeconds.observe({ status: String(status) }, seconds);
  }

  /** The exposition text, after counting every fan-out that has finished. */
  async text(): Promise<string> {
    await Promise.all(this.pending);
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  close(): void {
    this.registry.clear();
  }

  private adapterGauges(registers: Registry[]): void {
    const { stores, tradovate, log } = this.deps;
    const tradovateCredentials = async () =>
      (await stores.credentials.list()).filter((c) => c.broker === 'tradovate');
    new Gauge({
      name: 'tradecast_credential_token_expiry_timestamp_seconds',
      help: 'When the stored access token of each credential expires (Unix time).',
      labelNames: ['credential', 'broker'],
      registers,
      async collect() {
        this.reset();
        for (const c of await stores.credentials.list()) {
          if (c.tokenExpiresAt) {
            this.set({ credential: c.id, broker: c.broker }, Math.floor(c.tokenExpiresAt.getTime() / 1000));
          }
        }
      },
    });
    new Gauge({
      name: 'tradecast_credential_state',
      help: 'Credentials by stored state: 1 for the state the credential is in.',
      labelNames: ['credential', 'state'],
      registers,
      async collect() {
        this.reset();
        for (const c of await stores.credentials.list()) {
          for (const state of ['ok', 'needs_reauth', 'locked']) {
            this.set({ credential: c.id, state }, c.state === state ? 1 : 0);
          }
        }
      },
    });
    if (!tradovate) return;
    new Gauge({
      name: 'tradecast_tradovate_budget_used',
      help: "Requests used in each Tradovate credential's current rate window.",
      labelNames: ['credential', 'window'],
      registers,
      async collect() {
        this.reset();
        for (const c of await tradovateCredentials()) {
          try {
            const usage = await tradovate.budgetUsage(c.id);
            for (const window of WINDOWS) this.set({ credential: c.id, window }, usage[window]);
          } catch (error) {
            log.warn({ err: error, credentialId: c.id }, 'could not read a budget');
          }
        }
      },
    });
    new Gauge({
      name: 'tradecast_tradovate_budget_limit',
      help: 'Requests allowed per Tradovate credential in each rate window.',
      labelNames: ['window'],
      registers,
      async collect() {
        this.reset();
        const [first] = await tradovateCredentials();
        if (!first) return;
        try {
          const usage = await tradovate.budgetUsage(first.id);
          for (const window of WINDOWS) this.set({ window }, usage.limits[window]);
        } catch (error) {
          log.warn({ err: error }, 'could not read the budget limits');
        }
      },
    });
    new Gauge({
      name: 'tradecast_tradovate_open_sockets',
      help: 'Trading WebSockets open to Tradovate.',
      registers,
      collect() {
        this.set(tradovate.transportStats().openSockets);
      },
    });
    new Gauge({
      name: 'tradecast_tradovate_sockets_opened',
      help: 'WebSockets opened per Tradovate credential since the start (a rising figure means reconnects).',
      labelNames: ['credential'],
      registers,
      collect() {
        this.reset();
        for (const [credential, n] of tradovate.transportStats().socketsOpened) this.set({ credential }, n);
      },
    });
    new Gauge({
      name: 'tradecast_tradovate_remembered',
      help: 'What the Tradovate adapter remembers for its short window: placements by client order id, and its own orders.',
      labelNames: ['kind'],
      registers,
      collect() {
        const s = tradovate.cacheStats();
        this.set({ kind: 'placements' }, s.placements);
        this.set({ kind: 'orders' }, s.orders);
      },
    });
    new Gauge({
      name: 'tradecast_tradovate_requests',
      help: 'Requests sent to Tradovate since the start, by transport (ws, rest, rest_fallback).',
      labelNames: ['transport'],
      registers,
      collect() {
        const s = tradovate.transportStats();
        this.set({ transport: 'ws' }, s.ws);
        this.set({ transport: 'rest' }, s.rest);
        this.set({ transport: 'rest_fallback' }, s.restFallbacks);
      },
    });
  }
}
