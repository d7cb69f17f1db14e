/**
 * A crash in the middle of a fan-out: the service is killed (SIGKILL) at a random point, started
 * again on the same database, and start-up recovery must leave every account with exactly the
 * orders it should have: one entry with its take-profit and stop, nothing twice.
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

function child(mode: 'run' | 'recover', setupFile: string) {
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

describe('a crash in the middle of a fan-out', () => {
  it.each(KILL_AFTER)(
    'killed after %i placements, recovery leaves every account with exactly its orders',
    async (killAfter) => {
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
      let running: ChildProcess | null = null;
      try {
        sim.setPrice('MNQ', 21500);
        const linked = [];
        for (const u of users)
          linked.push({ name: u.name, accounts: u.accounts, secret: await linkViaOAuth(sim, u.name) });
        writeFileSync(
          setupFile,
          JSON.stringify({ dataDir, restUrl: sim.restUrl, wsUrl: sim.wsUrl, users: linked }),
        );
        sim.resetCounters();

        const first = child('run', setupFile);
        running = first.proc;
        const placements = () =>
          sim.requests.count({ endpoint: 'orderstrategy/startorderstrategy' }) +
          sim.requests.count({ endpoint: 'order/placeoso' });
        await waitFor(
          () => placements() >= killAfter || first.out.code !== null,
          'the fan-out to get going',
          60_000,
        );
        first.proc.kill('SIGKILL');
        await waitFor(() => first.out.signal !== null || first.out.code !== null, 'the process to die');
        recordLogText(first.out.stderr);
        expect(first.out.stdout).not.toMatch(/DONE/);
        const placedBeforeCrash = placements();
        expect(placedBeforeCrash).toBeLessThan(ACCOUNTS);

        const second = child('recover', setupFile);
        running = second.proc;
        await waitFor(() => second.out.code !== null, 'recovery to finish', 90_000);
        recordLogText(second.out.stderr);
        expect(second.out.code).toBe(0);
        expect(second.out.stdout).toMatch(/RECOVERED \{"open":0\}/);

        for (const user of users) {
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
        const db = await openDatabase({ dataDir: join(dataDir, 'pglite') });
        try {
          const journal = new JournalRepository({ db: db.db });
          expect(await journal.listNonTerminal()).toEqual([]);
        } finally {
          await db.close();
        }
      } finally {
        running?.kill('SIGKILL');
        await sim.close();
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
    240_000,
  );
});
