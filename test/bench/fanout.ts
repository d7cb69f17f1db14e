/**
 * `npm run bench -- --accounts N --credentials M --latency-ms L [--reps R] [--db pglite|postgres] [--json]`
 *
 * One signal to N accounts over M Tradovate credentials, through the real engine and the Tradovate
 * adapter, against the simulator in a separate process with injected latency and per-user limits.
 * Each repetition times "signal received → every account's order acknowledged" (the engine's
 * submit), then flattens untimed. In the same run, the old system's schedule (batches of 25
 * accounts, 0.5 s between batches, one global budget of 70 calls a minute) is measured on the same
 * simulator when it fits in a minute, and computed from its schedule otherwise (the output says which).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import type { Account, SignalEnvelope } from '../../src/domain/types.js';
import { type App, createApp, createLogger, loadConfig } from '../../src/index.js';
import { WindowProfiler } from './profile.js';

const self = fileURLToPath(import.meta.url);
const here = dirname(self);
/** Run as built JavaScript (`npm run bench`) or as TypeScript through tsx: the simulator host alike. */
const compiled = extname(self) === '.js';
const { values } = parseArgs({
  options: {
    accounts: { type: 'string', default: '1000' },
    credentials: { type: 'string', default: '250' },
    'latency-ms': { type: 'string', default: '20' },
    reps: { type: 'string', default: '5' },
    db: { type: 'string', default: 'pglite' },
    json: { type: 'boolean', default: false },
    'per-second': { type: 'string', default: '10' },
    'per-minute': { type: 'string', default: '5000' },
    /** Accounts in flight at once across all lanes (ENGINE_CONCURRENCY); the service's default when absent. */
    concurrency: { type: 'string' },
  },
});
const N = Number(values.accounts);
const M = Number(values.credentials);
const LATENCY = Number(values['latency-ms']);
const REPS = Number(values.reps);
const say = (s: string) => {
  if (!values.json) process.stderr.write(`${s}\n`);
};

interface SimUser {
  name: string;
  userId: number;
  accounts: { id: number; name: string }[];
  secret: Record<string, unknown>;
}

/** The simulator process and a request/answer channel to it. */
class SimHost {
  private seq = 0;
  private readonly waiting = new Map<number, (m: Record<string, unknown>) => void>();
  ready!: Promise<{ restUrl: string; wsUrl: string; users: SimUser[] }>;
  readonly child: ChildProcess;
  constructor(args: string[]) {
    this.child = fork(join(here, compiled ? 'sim-host.js' : 'sim-host.ts'), args, {
      // The venue stand-in gets a young generation sized for its allocation rate, like the service.
      execArgv: ['--max-semi-space-size=32', ...(compiled ? ['--enable-source-maps'] : ['--import', 'tsx'])],
      stdio: 'inherit',
    });
    this.ready = new Promise((resolve, reject) => {
      this.child.once('exit', (code) => reject(new Error(`simulator exited (${code})`)));
      this.child.on('message', (m: Record<string, unknown>) => {
        if (m.type === 'ready') resolve(m as never);
        else this.waiting.get(m.id as number)?.(m);
      });
    });
  }
  ask<T>(type: string, extra: object = {}): Promise<T> {
    const id = ++this.seq;
    return new Promise((resolve) => {
      this.waiting.set(id, (m) => {
        // Answers can be large (every order of a repetition): let them go once delivered.
        this.waiting.delete(id);
        resolve(m as T);
      });
      this.child.send({ type, id, ...extra });
    });
  }
}

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
};

/**
 * The old schedule in virtual time: batches of 25 accounts run together, 0.5 s between batches,
 * and every call waits for a slot in one global budget of 70 calls per rolling minute. One call per
 * account (the bracket), each taking a round trip.
 */
function oldScheduleMs(accounts: number, roundTripMs: number): number {
  const budget: number[] = []; // start times of calls in the last minute
  let now = 0;
  let finished = 0;
  for (let start = 0; start < accounts; start += 25) {
    const batch = Math.min(25, accounts - start);
    let batchEnd = now;
    for (let i = 0; i < batch; i++) {
      while (budget.length > 0 && budget[0]! <= now - 60_000) budget.shift();
      let at = now;
      if (budget.length >= 70) at = budget[budget.length - 70]! + 60_000;
      budget.push(at);
      batchEnd = Math.max(batchEnd, at + roundTripMs);
    }
    finished = batchEnd;
    now = batchEnd + 500;
  }
  return finished;
}

async function main(): Promise<void> {
  const sim = new SimHost([
    '--credentials',
    String(M),
    '--accounts',
    String(N),
    '--latency-ms',
    String(LATENCY),
    // The venue's per-second window is twice ours: the adapter's fixed windows may put a full second's
    // budget on either side of a window edge.
    '--per-second',
    String(Number(values['per-second']) * 2),
    '--per-minute',
    values['per-minute']!,
  ]);
  const venue = await sim.ready;
  say(`simulator up: ${venue.users.length} users, ${N} accounts, latency ${LATENCY} ms one way`);

  const dataDir = mkdtempSync(join(tmpdir(), 'tradecast-bench-'));
  const pg =
    values.db === 'postgres'
      ? (process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test')
      : null;
  const schema = pg ? `bench_${randomBytes(4).toString('hex')}` : undefined;
  const config = loadConfig({
    DATA_DIR: dataDir,
    DEMO: 'off',
    LOG_LEVEL: 'warn',
    BROKER: 'tradovate',
    TRADOVATE_REST_URL: venue.restUrl,
    TRADOVATE_WS_URL: venue.wsUrl,
    TRADOVATE_RATE_PER_SECOND: values['per-second']!,
    TRADOVATE_RATE_PER_MINUTE: values['per-minute']!,
    TRADOVATE_RATE_PER_HOUR: '100000',
    TRADOVATE_POOL_MAX_SOCKETS: String(Math.max(M, 1)),
    ...(values.concurrency ? { ENGINE_CONCURRENCY: values.concurrency } : {}),
    ...(pg ? { DATABASE_URL: pg, TRADECAST_ENCRYPTION_KEY: randomBytes(32).toString('base64') } : {}),
  });
  const log = createLogger({ level: 'warn', destination: process.stderr });
  const app: App = await createApp({ config, log, ...(schema ? { databaseSchema: schema } : {}) });

  // Accounts as the linking flow would store them.
  const owner = await app.stores.users.ensureIdentityUser('console', 'bench', 'bench', ['admin']);
  const ourToBroker = new Map<string, number>();
  for (const user of venue.users) {
    const credential = await app.stores.credentials.create({
      ownerUserId: owner.id,
      broker: 'tradovate',
      environment: 'demo',
      kind: 'oauth',
      label: user.name,
      secret: user.secret,
      tokenExpiresAt: new Date(String(user.secret.expiresAt)),
    });
    for (const a of user.accounts) {
      const account = await app.stores.accounts.create({
        credentialId: credential.id,
        ownerUserId: owner.id,
        brokerAccountId: String(a.id),
        name: a.name,
      });
      ourToBroker.set(account.id, a.id);
    }
  }
  const targets: Account[] = await app.stores.accounts.listAll();
  say(`stored ${targets.length} accounts over ${venue.users.length} credentials (${values.db})`);

  let seq = 0;
  const envelope = (action: 'buy' | 'flatten'): SignalEnvelope => ({
    signal:
      action === 'buy'
        ? {
            action,
            symbol: 'MNQ',
            quantity: 1,
            entry: { type: 'market' },
            takeProfit: { kind: 'points', value: 20 },
            stopLoss: { kind: 'points', value: 10 },
            target: { all: true },
          }
        : { action, symbol: 'MNQ', quantity: 0, entry: { type: 'market' }, target: { all: true } },
    source: 'command',
    principal: { platform: 'console', userId: 'bench' },
    dedupKey: `bench:${Date.now()}:${++seq}`,
    receivedAt: new Date(),
  });

  // BENCH_PROFILE=<dir>: CPU profiles of the timed submits, engine and simulator.
  const profiler = new WindowProfiler(process.env.BENCH_PROFILE, 'engine');
  let peakRss = process.memoryUsage.rss();
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }, 20);

  // Warm-up: tokens from storage, one socket per credential, contracts resolved.
  const warm = await app.engine.submit(envelope('buy'), targets);
  await app.engine.submit(envelope('flatten'), targets);
  say(`warm-up: ${warm.summary.filled}/${N} filled in ${Math.round(warm.summary.durationMs)} ms`);
  await new Promise((r) => setTimeout(r, 1100));
  for (const o of warm.summary.outcomes.filter((x) => x.kind !== 'filled').slice(0, 5)) {
    say(`  ${o.accountName}: ${o.kind} ${o.reason}`);
  }
  await sim.ask('reset');

  const times: number[] = [];
  // CPU time of each process (all its threads) during each timed submit, ms.
  const engineCpu: number[] = [];
  const simCpu: number[] = [];
  let duplicates = 0;
  let wrongAccount = 0;
  let unknown = 0;
  let notFilled = 0;
  for (let r = 0; r < REPS; r++) {
    await Promise.all([profiler.start(), sim.ask('profile-start')]);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const { summary } = await app.engine.submit(envelope('buy'), targets);
    times.push(performance.now() - t0);
    const cpu = process.cpuUsage(cpu0);
    engineCpu.push((cpu.user + cpu.system) / 1000);
    const [, simWindow] = await Promise.all([profiler.stop(), sim.ask<{ cpuMs: number }>('profile-stop')]);
    simCpu.push(simWindow.cpuMs);
    unknown += summary.unknown;
    notFilled += N - summary.filled;
    const { rows } = await sim.ask<{ rows: { account: number; clOrdId: string | null; parent: boolean }[] }>(
      'orders',
    );
    const mine = rows.filter((o) => o.clOrdId?.startsWith(`tc.${summary.signalId}.`));
    const seen = new Map<string, number>();
    for (const o of mine) {
      seen.set(o.clOrdId!, (seen.get(o.clOrdId!) ?? 0) + 1);
      const ours = o.clOrdId!.split('.')[2]!;
      if (ourToBroker.get(ours) !== o.account) wrongAccount++;
    }
    for (const count of seen.values()) duplicates += count - 1;
    const entriesPerAccount = new Map<number, number>();
    for (const o of mine.filter((x) => x.parent))
      entriesPerAccount.set(o.account, (entriesPerAccount.get(o.account) ?? 0) + 1);
    for (const count of entriesPerAccount.values()) duplicates += Math.max(0, count - 1);
    say(
      `rep ${r + 1}: ${Math.round(times[r]!)} ms, filled ${summary.filled}/${N}, unknown ${summary.unknown}, CPU engine ${Math.round(engineCpu[r]!)} ms, simulator ${Math.round(simCpu[r]!)} ms`,
    );
    await app.engine.submit(envelope('flatten'), targets);
    // Let the per-second budgets the flatten used refill, as they would between real signals.
    await new Promise((r) => setTimeout(r, 1100));
  }
  clearInterval(sampler);
  const requests = await sim.ask<{ byEndpoint: Record<string, number>; socketsMax: number; total: number }>(
    'requests',
  );
  const notTerminal = (await app.stores.journal.listNonTerminal()).length;

  // The old design on the same simulator: measured when it fits in a minute, computed otherwise.
  const roundTrip = 2 * LATENCY;
  const computed = oldScheduleMs(N, roundTrip);
  let baselineMs = computed;
  let baselineMethod = 'computed from its schedule (virtual time)';
  if (computed <= 60_000) {
    baselineMs = await measureOldSchedule(app, targets);
    baselineMethod = 'measured on the simulator';
  }
  const p50 = percentile(times, 50);
  const result = {
    accounts: N,
    credentials: M,
    latency_ms: LATENCY,
    reps: REPS,
    db: values.db,
    p50_ms: Math.round(p50),
    p95_ms: Math.round(percentile(times, 95)),
    orders_per_s: Math.round((N / p50) * 1000),
    // Medians over the repetitions; both processes share the machine's cores.
    engine_cpu_us_per_account: Math.round((percentile(engineCpu, 50) / N) * 1000),
    simulator_cpu_us_per_account: Math.round((percentile(simCpu, 50) / N) * 1000),
    peak_rss_mb: Math.round(peakRss / 1024 / 1024),
    duplicates,
    wrong_account: wrongAccount,
    not_terminal: notTerminal,
    unknown,
    not_filled: notFilled,
    max_sockets_per_credential: requests.socketsMax,
    // Entries sent during the timed repetitions (brackets relative to the fill go as order strategies).
    entry_requests:
      (requests.byEndpoint['order/placeoso'] ?? 0) +
      (requests.byEndpoint['order/placeorder'] ?? 0) +
      (requests.byEndpoint['orderstrategy/startorderstrategy'] ?? 0),
    requests_per_account_buy_and_flatten: Math.round((requests.total / (N * REPS)) * 10) / 10,
    login_requests: requests.byEndpoint['auth/accesstokenrequest'] ?? 0,
    baseline_ms: Math.round(baselineMs),
    baseline: baselineMethod,
    ratio: Math.round((baselineMs / p50) * 10) / 10,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  if (!values.json) {
    say(
      `p50 ${result.p50_ms} ms, p95 ${result.p95_ms} ms, baseline ${result.baseline_ms} ms (${baselineMethod}), ratio ${result.ratio}×`,
    );
  }

  profiler.save();
  await app.close();
  await sim.ask('stop').catch(() => undefined);
  if (pg && schema) {
    const sql = postgres(pg, { max: 1, onnotice: () => {} });
    await sql.unsafe(`drop schema if exists "${schema}" cascade`);
    await sql.end();
  }
  rmSync(dataDir, { recursive: true, force: true });
  process.exit(0);
}

/** The old system's schedule for real: batches of 25 in parallel, 0.5 s apart, 70 calls a minute overall. */
async function measureOldSchedule(app: App, targets: Account[]): Promise<number> {
  const broker = app.brokers.get('tradovate')!;
  const calls: number[] = [];
  const slot = async () => {
    for (;;) {
      const now = performance.now();
      while (calls.length > 0 && calls[0]! <= now - 60_000) calls.shift();
      if (calls.length < 70) {
        calls.push(now);
        return;
      }
      await new Promise((r) => setTimeout(r, calls[0]! + 60_000 - now));
    }
  };
  const contract = await broker.resolveContract(targets[0]!.credentialId, 'MNQ');
  if (!contract.ok) throw new Error(contract.error.message);
  const t0 = performance.now();
  for (let i = 0; i < targets.length; i += 25) {
    await Promise.all(
      targets.slice(i, i + 25).map(async (account, k) => {
        await slot();
        await broker.placeBracket({
          account: { credentialId: account.credentialId, brokerAccountId: account.brokerAccountId },
          clientOrderId: `old.${Date.now()}.${i + k}`,
          contract: contract.value.name,
          side: 'buy',
          quantity: 1,
          type: 'market',
          takeProfit: { kind: 'offset', ticks: 80 },
          stopLoss: { kind: 'offset', ticks: 40 },
        });
      }),
    );
    if (i + 25 < targets.length) await new Promise((r) => setTimeout(r, 500));
  }
  return performance.now() - t0;
}

main().catch((error) => {
  process.stderr.write(`bench failed: ${(error as Error).stack}\n`);
  process.exit(1);
});
