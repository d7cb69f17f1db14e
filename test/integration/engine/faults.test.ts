/**
 * Faults during a fan-out: penalty tickets on 10% of requests, 429 on one credential, a socket
 * dropped mid-fan-out and 1% timeouts. Every journal row must end terminal, nothing may be placed
 * twice or on the wrong account, and the summary must match the venue's state.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FanoutSummary } from '../../../src/index.js';
import { waitFor } from '../../helpers/app.js';
import { startTradovateApp, type TradovateApp, venueState } from '../../helpers/tradovate-app.js';

const admin = { platform: 'discord' as const, userId: '1' };

describe('a fan-out under venue faults', () => {
  let t: TradovateApp;
  beforeAll(async () => {
    t = await startTradovateApp({
      driver: 'pglite',
      credentials: 50,
      accountsPerCredential: 4,
      env: { TRADOVATE_REQUEST_TIMEOUT_MS: '1500' },
    });
    t.sim.setPrice('MNQ', 21500);
  }, 120_000);
  afterAll(async () => t?.stop());

  it('ends with every row terminal, no duplicates, no wrong-account orders, and counts that match the venue', async () => {
    const throttled = t.users[7]!.name;
    const dropped = t.users[3]!.name;
    Object.assign(t.sim.faults, { penaltyRate: 0.1, timeoutRate: 0.01, rateLimitUsers: [throttled] });

    const run = t.app.commands.runText(admin, '/buy MNQ 1 tp=20 sl=10 account=all');
    // Drop one credential's socket once the fan-out is under way.
    await waitFor(
      () => t.sim.requests.count({ userName: dropped }) >= 3,
      'the fan-out to reach the credential',
    );
    t.sim.shutdownSockets(dropped, 'Maintenance');
    const reply = await run;
    if (reply.kind !== 'fanout') throw new Error(JSON.stringify(reply));
    const s: FanoutSummary = reply.summary;
    Object.assign(t.sim.faults, { penaltyRate: 0, timeoutRate: 0, rateLimitUsers: [] });

    // The faults really happened: tickets waited out, answers withheld, a 429, a socket closed.
    const log = t.logs.text();
    expect(log).toMatch(/penalty ticket: waiting, then resending with the ticket/);
    expect(t.sim.requests.entries.some((r) => r.status === 'timeout')).toBe(true);
    expect(t.sim.requests.count({ userName: throttled })).toBeGreaterThan(0);
    expect(t.sim.requests.entries.some((r) => r.userName === throttled && r.status === 429)).toBe(true);
    expect(log).toMatch(/server closed the websocket|shutdown/i);

    // Every journal row terminal.
    const rows = await t.app.stores.journal.listBySignal(s.signalId);
    expect(rows.filter((r) => !['acked', 'rejected', 'reconciled', 'skipped'].includes(r.state))).toEqual([]);

    // Nothing twice, nothing on the wrong account.
    let duplicates = 0;
    let wrongAccount = 0;
    let long = 0;
    for (const [ours, venueId] of t.venueAccount) {
      const mine = t.sim.orders(venueId).filter((o) => o.clOrdId?.startsWith(`tc.${s.signalId}.`));
      for (const o of mine) if (o.clOrdId!.split('.')[2] !== ours) wrongAccount++;
      const entries = mine.filter((o) => o.clOrdId!.endsWith('.e0'));
      duplicates += Math.max(0, entries.length - 1);
      const net = venueState(t.sim, venueId).net;
      expect(Math.abs(net)).toBeLessThanOrEqual(1);
      if (net === 1) long++;
    }
    expect(duplicates).toBe(0);
    expect(wrongAccount).toBe(0);

    // The summary agrees with the venue: every filled account is long one, and only those.
    expect(s.unknown).toBe(0);
    expect(s.filled).toBe(long);
    const throttledAccounts = new Set(t.users[7]!.accounts.map((a) => a.id));
    for (const o of s.outcomes) {
      const venueId = t.venueAccount.get(o.accountId)!;
      if (throttledAccounts.has(venueId)) expect(o.kind).toBe('rejected');
      else expect(o.kind).toBe('filled');
    }
    expect(s.rejected.reduce((n, r) => n + r.count, 0)).toBe(4);
  }, 120_000);
});
