/**
 * `npm run bench:summaries -- [--signals S] [--accounts N] [--db postgres|pglite]`
 *
 * What reading recent signals costs once each carries the summary of an N-account fan-out: the
 * whole rows (what reconciliation's scan and the dashboard's lists read before) against the reads
 * they use now (signals without summaries, and one trader's outcomes picked out by the database).
 * Prints the median time of five reads and the heap the result holds, for each.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { desc, sql } from 'drizzle-orm';
import { openDatabase } from '../../src/db/index.js';
import { SignalsRepository } from '../../src/db/repositories/signals.js';
import { signals } from '../../src/db/schema/index.js';
import { type AccountOutcome, summarize } from '../../src/engine/summary.js';

const { values } = parseArgs({
  options: {
    signals: { type: 'string', default: '200' },
    accounts: { type: 'string', default: '10000' },
    db: { type: 'string', default: 'postgres' },
  },
});
const SIGNALS = Number(values.signals);
const ACCOUNTS = Number(values.accounts);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

const url = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schemaName = `bench_${randomBytes(4).toString('hex')}`;
const opened =
  values.db === 'postgres'
    ? await openDatabase({ url, schemaName, maxConnections: 4 })
    : await openDatabase({});
const repo = new SignalsRepository({ db: opened.db });

const outcomes: AccountOutcome[] = Array.from({ length: ACCOUNTS }, (_, i) => ({
  accountId: String(i + 1),
  accountName: `Account ${i + 1}`,
  kind: 'filled',
  quantity: 1,
  contract: 'MNQZ6',
  reason: null,
  brokerOrderIds: [String(300_000_000 + 3 * i), String(300_000_001 + 3 * i), String(300_000_002 + 3 * i)],
  elapsedMs: 1234.5,
}));
const summary = summarize({ signalId: '1', action: 'buy', symbol: 'MNQ', durationMs: 2000 }, outcomes);
const body = { action: 'buy', symbol: 'MNQ', quantity: 1, entry: { type: 'market' }, target: {} } as const;
const ids: string[] = [];
for (let i = 0; i < SIGNALS; i++) {
  const { signal } = await repo.insertIfNew({
    dedupKey: `bench:${i}`,
    source: 'command',
    principal: { platform: 'console', userId: 'bench' },
    body,
  });
  await repo.setStatus(signal.id, 'done', summary as unknown as Record<string, unknown>);
  ids.push(signal.id);
}
process.stdout.write(
  `${SIGNALS} signals, each with the summary of ${ACCOUNTS} accounts (${(JSON.stringify(summary).length / 1e6).toFixed(1)} MB), ${values.db}\n`,
);

async function measure(name: string, read: () => Promise<unknown[]>): Promise<void> {
  const times: number[] = [];
  const heaps: number[] = [];
  for (let r = 0; r < 5; r++) {
    gc!();
    const before = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    const rows = await read();
    times.push(performance.now() - t0);
    heaps.push((process.memoryUsage().heapUsed - before) / 1024 / 1024);
    if (rows.length === 0) throw new Error(`${name} read nothing`);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[2]!;
  process.stdout.write(
    `${name.padEnd(58)} ${median(times).toFixed(1).padStart(8)} ms ${median(heaps).toFixed(1).padStart(7)} MB held\n`,
  );
}

const whole = (n: number) => () => opened.db.select().from(signals).orderBy(desc(signals.id)).limit(n);
const trader = ['17', String(ACCOUNTS / 2), String(ACCOUNTS - 1), String(ACCOUNTS)];
await measure(`whole rows, newest ${SIGNALS} (the scan before)`, whole(SIGNALS));
await measure(`without summaries, newest ${SIGNALS} (the scan now)`, () => repo.recentHeads(SIGNALS));
await measure('whole rows, newest 50 (an admin list before)', whole(50));
await measure('without summaries, newest 50 (an admin list now)', () => repo.recentHeads(50));
await measure("4 accounts' outcomes of 50 signals (a trader's list now)", () =>
  repo.withOutcomesOf(ids.slice(-50), trader),
);

if (values.db === 'postgres') await opened.db.execute(sql.raw(`drop schema "${schemaName}" cascade`));
await opened.close();
