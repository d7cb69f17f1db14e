/**
 * A crash in the middle of a fan-out: the service is killed (SIGKILL) at a random point, started
 * again on the same database, and start-up recovery must leave every account with exactly the
 * orders it should have: one entry with its take-profit and stop, nothing twice; or, for a flatten,
 * every account flat with nothing working, each liquidated once.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/index.js';
import { JournalRepository } from '../../src/db/repositories/journal.js';
import { type SimUserOption, startSimulator } from '../fakes/tradovate/server.js';
import { waitFor } from '../helpers/app.js';
import { recordLogText } from '../helpers/log.js';
import { linkViaOAuth } from '../integration/tradovate/harness.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CREDENTIALS = 30;
const PER = 4;
const ACCOUNTS = CREDENTIALS * PER;

function child(mode: 'run' | 'flatten' | 'recover', setupFile: string) {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'test/e2e/crash-child.ts', mode, setupFile], {
    cwd: root,
    env: { PATH: process.env.PATH },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = { stdout: '', stderr: '', code: null as number | null, signal: null as string | null };
  proc.stdout!.on('data', (d) => {
    out.stdout += String(d);
  });
  proc.stderr!.on('data', (d) => {
    out.stderr += String(d);
  });
  proc.on('exit', (code, signal) => {
    out.code = code;
    out.signal = signal;
  });
  return { proc, out };
}

/** Deterministic "random" kill points, spread over the fan-out. */
const KILL_AFTER = [7, 53, 101].map((n) => Math.min(ACCOUNTS - 5, n));

/** A simulator with the crash test's users, their accounts linked, and the children's set-up file. */
async function venue() {
  const users: SimUserOption[] = Array.from({ length: CREDENTIALS }, (_, i) => ({
    name: `crash${i}`,
    password: `pw-${i}`,
    userId: 70_000 + i,
    accounts: Array.from({ length: PER }, (_, k) => ({
      id: (70_000 + i) * 100 + k + 1,
      name: `C${i}A${k + 1}`,
    })),
  }));
  // Latency so the fan-out takes long enough to be cut in the middle.
  const sim = await startSimulator({
    users,
    latency: { meanMs: 15, jitterMs: 5 },
    limits: { user: { perSecond: 1000, perMinute: 100_000, perHour: 1_000_000 }, endpointKey: 'user' },
  });
  const dataDir = mkdtempSync(join(tmpdir(), 'tradecast-crash-'));
  const setupFile = join(dataDir, 'setup.json');
  sim.setPrice('MNQ', 21500);
  const linked = [];
  for (const u of users)
    linked.push({ name: u.name, accounts: u.accounts, secret: await linkViaOAuth(sim, u.name) });
  writeFileSync(
    setupFile,
    JSON.stringify({ dataDir, restUrl: sim.restUrl, wsUrl: sim.wsUrl, users: linked }),
  );
  sim.resetCounters();
  let running: ChildProcess | null = null;
  return {
    sim,
    users,
    dataDir,
    /** Start a child; the last one started is killed at clean-up. */
    start(mode: 'run' | 'flatten' | 'recover') {
      const c = child(mode, setupFile);
      running = c.proc;
      return c;
    },
    /** Run a child to its end. */
    async complete(mode: 'run' | 'flatten' | 'recover') {
      const c = this.start(mode);
      await waitFor(() => c.out.code !== null, `the ${mode} child to finish`, 90_000);
      recordLogText(c.out.stderr);
      expect(c.out.code, c.out.stderr.slice(-2000)).toBe(0);
      return c.out.stdout;
    },
    /** Kill a child once `enough` holds, and check it died before finishing. */
    async killWhen(c: ReturnType<typeof child>, enough: () => boolean) {
      await waitFor(() => enough() || c.out.code !== null, 'the fan-out to get going', 60_000);
      c.proc.kill('SIGKILL');
      await waitFor(() => c.out.signal !== null || c.out.code !== null, 'the process to die');
      recordLogText(c.out.stderr);
      expect(c.out.stdout).not.toMatch(/DONE/);
    },
    async journalOpen() {
      const db = await openDatabase({ dataDir: join(dataDir, 'pglite') });
      try {
        return await new JournalRepository({ db: db.db }).listNonTerminal();
      } finally {
        await db.close();
      }
    },
    async close() {
      running?.kill('SIGKILL');
      await sim.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

describe('a crash in the middle of a fan-out', () => {
  it.each(KILL_AFTER)(
    'killed after %i placements, recovery leaves every account with exactly its orders',
    async (killAfter) => {
      const v = await venue();
      try {
        const { sim } = v;
        const placements = () =>
          sim.requests.count({ endpoint: 'orderstrategy/startorderstrategy' }) +
          sim.requests.count({ endpoint: 'order/placeoso' });
        await v.killWhen(v.start('run'), () => placements() >= killAfter);
        expect(placements()).toBeLessThan(ACCOUNTS);

        expect(await v.complete('recover')).toMatch(/RECOVERED \{"open":0\}/);
        for (const user of v.users) {
          for (const account of user.accounts) {
            const orders = sim.orders(account.id);
            const entries = orders.filter((o) => o.clOrdId?.endsWith('.e0'));
            expect(entries, `account ${account.name}`).toHaveLength(1);
            const net = sim.positions(account.id).reduce((s, p) => s + p.netPos, 0);
            expect(net, `account ${account.name}`).toBe(1);
            const working = orders
              .filter((o) => o.ordStatus === 'Working')
              .map((o) => o.orderType)
              .sort();
            expect(working, `account ${account.name}`).toEqual(['Limit', 'Stop']);
          }
        }
        expect(await v.journalOpen()).toEqual([]);
      } finally {
        await v.close();
      }
    },
    240_000,
  );

  it('killed in the middle of a flatten, recovery flattens every account it had not reached, once each, and reports them all', async () => {
    const v = await venue();
    try {
      const { sim } = v;
      expect(await v.complete('run')).toMatch(/DONE fanout/);
      const liquidations = () => sim.requests.count({ endpoint: 'order/liquidateposition' });
      await v.killWhen(v.start('flatten'), () => liquidations() >= ACCOUNTS / 3);
      expect(liquidations()).toBeLessThan(ACCOUNTS);

      const recovered = await v.complete('recover');
      const report = JSON.parse(/RECOVERED (.*)/.exec(recovered)![1]!);
      expect(report).toEqual({ open: 0, flatten: { status: 'done', accounts: ACCOUNTS, flat: ACCOUNTS } });
      for (const user of v.users) {
        for (const account of user.accounts) {
          const orders = sim.orders(account.id);
          expect(
            sim.positions(account.id).reduce((s, p) => s + Math.abs(p.netPos), 0),
            account.name,
          ).toBe(0);
          expect(
            orders.filter((o) => o.ordStatus === 'Working'),
            account.name,
          ).toEqual([]);
          // One liquidation per account (a market order other than the entry): none sent twice.
          const liquidations = orders.filter((o) => o.orderType === 'Market' && !o.clOrdId?.endsWith('.e0'));
          expect(liquidations, account.name).toHaveLength(1);
        }
      }
      expect(await v.journalOpen()).toEqual([]);
    } finally {
      await v.close();
    }
  }, 240_000);
});
