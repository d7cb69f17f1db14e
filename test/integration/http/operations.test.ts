/**
 * Operations endpoints: liveness, readiness, and Prometheus metrics whose order counters equal the
 * journal after fan-outs from chat and from the webhook, and whose Tradovate figures match what the
 * simulator saw.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebhookSource } from '../../../src/http/index.js';
import { waitFor } from '../../helpers/app.js';
import { addUser, type TestUser } from '../../helpers/fixtures.js';
import { startTradovateApp, type TradovateApp } from '../../helpers/tradovate-app.js';
import { type HttpRig, startHttpRig } from './rig.js';

interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

interface Family {
  type: string | null;
  help: string | null;
  readonly samples: Sample[];
}

/**
 * A strict reader of the Prometheus text format (version 0.0.4): every line is a HELP, a TYPE, a
 * sample or blank, or it throws. Samples of a histogram (`_bucket`, `_sum`, `_count`) join its family.
 */
function parsePrometheus(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const family = (name: string) => {
    let f = families.get(name);
    if (!f) {
      f = { type: null, help: null, samples: [] };
      families.set(name, f);
    }
    return f;
  };
  const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  const VALUE = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|NaN|[+-]Inf)$/;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const meta = new RegExp(`^# (HELP|TYPE) (${NAME}) (.*)$`).exec(line);
    if (meta) {
      const f = family(meta[2]!);
      if (meta[1] === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(meta[3]!))
          throw new Error(line);
        f.type = meta[3]!;
      } else f.help = meta[3]!;
      continue;
    }
    const sample = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)(?: -?\\d+)?$`).exec(line);
    if (!sample) throw new Error(`not Prometheus text: ${line}`);
    const labels: Record<string, string> = {};
    const body = sample[2] ?? '';
    const consumed = body.replace(
      /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g,
      (_m, k: string, v: string) => {
        labels[k] = v.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
        return '';
      },
    );
    if (consumed !== '') throw new Error(`bad labels: ${line}`);
    if (!VALUE.test(sample[3]!)) throw new Error(`bad value: ${line}`);
    const name = sample[1]!;
    const base = /^(.*)_(bucket|sum|count)$/.exec(name)?.[1];
    const owner = base && families.get(base)?.type === 'histogram' ? base : name;
    family(owner).samples.push({ name, labels, value: Number(sample[3]) });
  }
  for (const [name, f] of families) if (!f.type) throw new Error(`${name} has no TYPE`);
  return families;
}

describe('operations endpoints', () => {
  let rig: HttpRig;
  let trader: TestUser;

  beforeAll(async () => {
    rig = await startHttpRig();
    trader = await addUser(rig.t.app, {
      platform: 'telegram',
      externalId: '9100',
      roles: ['trader'],
      accounts: 4,
    });
    rig.t.app.exchange.setPrice('MNQ', 21500);
  });
  afterAll(async () => rig?.close());

  const scrape = async () => {
    const res = await fetch(`${rig.base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return parsePrometheus(await res.text());
  };
  const ordersByState = (families: Map<string, Family>) =>
    Object.fromEntries(
      (families.get('tradecast_orders_total')?.samples ?? []).map((s) => [s.labels.state, s.value]),
    );

  it('/healthz answers ok and /readyz reports the database and brokers', async () => {
    const health = await fetch(`${rig.base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${rig.base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', database: 'ok', brokers: { paper: 'ok' } });
  });

  it('/metrics parses as Prometheus text and its order counters equal the journal after fan-outs', async () => {
    const empty = await scrape();
    expect(empty.get('tradecast_orders_total')?.type).toBe('counter');
    expect(Object.values(ordersByState(empty)).every((n) => n === 0)).toBe(true);

    // One account refuses the signal (disabled), so the journal holds skipped rows as well as acked ones.
    await rig.stores.accounts.update(trader.accountIds[3]!, { enabled: false });
    const principal = { platform: 'telegram' as const, userId: '9100' };
    for (const text of ['/buy MNQ 2 tp=20 sl=10', '/buy MNQ 1 tp=20 sl=10', '/flatten MNQ']) {
      const reply = await rig.commands.runText(principal, text);
      expect(reply.kind, text).toBe('fanout');
    }
    const source = await createWebhookSource(
      { stores: rig.stores, publicUrl: rig.base },
      { ownerUserId: trader.userId, label: 'metrics' },
    );
    if (!source.ok) throw new Error(source.error.message);
    const res = await fetch(source.value.url, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'SELL MNQ 1',
    });
    expect(res.status).toBe(202);
    const { signalId } = (await res.json()) as { signalId: string };
    await waitFor(
      async () => (await rig.stores.signals.get(signalId))?.status === 'done',
      'the webhook fan-out',
    );

    const journal = await rig.stores.journal.countsByState();
    expect(journal.acked + journal.skipped).toBeGreaterThan(0);
    expect(journal.skipped).toBeGreaterThan(0);
    const families = await waitFor(async () => {
      const f = await scrape();
      return JSON.stringify(ordersByState(f)) === JSON.stringify(journal) ? f : null;
    }, 'order counters equal to the journal');
    expect(ordersByState(families)).toEqual(journal);

    const signals = families.get('tradecast_signals_total')!.samples;
    expect(Object.fromEntries(signals.map((s) => [s.labels.source, s.value]))).toEqual({
      command: 3,
      webhook: 1,
    });
    const duration = families.get('tradecast_fanout_duration_seconds')!;
    expect(duration.type).toBe('histogram');
    const counts = duration.samples.filter((s) => s.name.endsWith('_count'));
    expect(counts.reduce((n, s) => n + s.value, 0)).toBe(4);
    const answered = families.get('tradecast_webhook_answer_seconds')!;
    expect(answered.samples.find((s) => s.name.endsWith('_count') && s.labels.status === '202')?.value).toBe(
      1,
    );
    expect(families.get('tradecast_account_outcomes_total')?.type).toBe('counter');
    expect(families.has('tradecast_process_cpu_seconds_total')).toBe(true);
  });
});

describe('Tradovate figures on /metrics', () => {
  let t: TradovateApp;
  let base: string;
  const admin = { platform: 'discord' as const, userId: '1' };

  beforeAll(async () => {
    t = await startTradovateApp({ driver: 'pglite', credentials: 2, accountsPerCredential: 3 });
    t.sim.setPrice('MNQ', 21500);
    base = await t.app.http.listen('127.0.0.1', 0);
  }, 60_000);
  afterAll(async () => t?.stop());

  const scrape = async () => parsePrometheus(await (await fetch(`${base}/metrics`)).text());
  const byLabel = (families: Map<string, Family>, name: string, label: string) =>
    Object.fromEntries((families.get(name)?.samples ?? []).map((s) => [s.labels[label], s.value]));

  it('reports sockets, requests, budgets and what the adapter remembers, as the venue saw them', async () => {
    const before = await scrape();
    expect(byLabel(before, 'tradecast_tradovate_remembered', 'kind')).toEqual({ placements: 0, orders: 0 });
    expect(before.get('tradecast_tradovate_open_sockets')?.samples[0]?.value).toBe(0);

    const reply = await t.app.commands.runText(admin, '/buy MNQ 1 tp=20 sl=10 account=all');
    expect(reply.kind === 'fanout' && reply.summary.filled).toBe(6);
    const after = await scrape();

    // One pooled socket per credential, and every request the venue counted went over one.
    expect(after.get('tradecast_tradovate_open_sockets')?.samples[0]?.value).toBe(2);
    const requests = byLabel(after, 'tradecast_tradovate_requests', 'transport');
    // Requests, not the sockets' own `authorize` frames or the token endpoints.
    const venueSaw = t.sim.requests.entries.filter(
      (r) => r.transport === 'ws' && r.endpoint !== 'authorize' && !r.endpoint.startsWith('auth/'),
    ).length;
    expect(venueSaw).toBeGreaterThan(6);
    expect(requests).toEqual({ ws: venueSaw, rest: 0, rest_fallback: 0 });
    // Six placements remembered by client order id; the entries and their legs as our orders.
    const remembered = byLabel(after, 'tradecast_tradovate_remembered', 'kind');
    expect(remembered.placements).toBe(6);
    expect(remembered.orders).toBeGreaterThanOrEqual(6);
    const used = (after.get('tradecast_tradovate_budget_used')?.samples ?? []).filter(
      (s) => s.labels.window === 'minute',
    );
    expect(used).toHaveLength(2);
    expect(used.reduce((n, s) => n + s.value, 0)).toBe(venueSaw);
    expect(byLabel(after, 'tradecast_tradovate_budget_limit', 'window')).toEqual({
      second: 200,
      minute: 10_000,
      hour: 100_000,
    });
  });
});
