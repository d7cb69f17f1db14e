/**
 * The whole service trading Tradovate accounts on a local simulator: users and accounts on the
 * venue, credentials linked through the simulator's OAuth flow and stored encrypted, one admin who
 * owns every account.
 */

import {
  type SimUserOption,
  type Simulator,
  type SimulatorOptions,
  startSimulator,
} from '../fakes/tradovate/server.js';
import { linkViaOAuth } from '../integration/tradovate/harness.js';
import { startTestApp, type TestApp } from './app.js';
import type { TestDriver } from './db.js';

export interface TradovateApp extends TestApp {
  readonly sim: Simulator;
  readonly users: readonly SimUserOption[];
  /** Our account id → the venue's account id. */
  readonly venueAccount: ReadonlyMap<string, number>;
  /** Our account ids, in venue order. */
  readonly accountIds: readonly string[];
}

export async function startTradovateApp(input: {
  driver: TestDriver;
  credentials: number;
  accountsPerCredential: number;
  sim?: Omit<SimulatorOptions, 'users'>;
  env?: Record<string, string>;
}): Promise<TradovateApp> {
  const users: SimUserOption[] = Array.from({ length: input.credentials }, (_, i) => {
    const userId = 50_000 + i;
    return {
      name: `acct${i}`,
      password: `pw-${i}`,
      userId,
      accounts: Array.from({ length: input.accountsPerCredential }, (_, k) => ({
        id: userId * 100 + k + 1,
        name: `U${i}A${k + 1}`,
      })),
    };
  });
  const sim = await startSimulator({
    limits: {
      user: { perSecond: 1000, perMinute: 100_000, perHour: 1_000_000 },
      // Set-up links every user through the OAuth code exchange, which counts against the anonymous
      // budget (100 a second): on a fast machine hundreds of links fit in one second.
      anonymous: { perSecond: 1_000_000, perMinute: 1_000_000, perHour: 1_000_000 },
      endpointKey: 'user',
    },
    ...input.sim,
    users,
  });
  const t = await startTestApp(input.driver, {
    DEMO: 'off',
    TRADOVATE_REST_URL: sim.restUrl,
    TRADOVATE_WS_URL: sim.wsUrl,
    TRADOVATE_RATE_PER_SECOND: '200',
    TRADOVATE_RATE_PER_MINUTE: '10000',
    TRADOVATE_RATE_PER_HOUR: '100000',
    CONFIRM_ABOVE_ACCOUNTS: '100000',
    ENGINE_CONCURRENCY: '128',
    ...input.env,
  });
  const admin = await t.app.stores.users.ensureIdentityUser('discord', '1', 'admin', ['admin']);
  const venueAccount = new Map<string, number>();
  const accountIds: string[] = [];
  for (const user of users) {
    const secret = await linkViaOAuth(sim, user.name);
    const credential = await t.app.stores.credentials.create({
      ownerUserId: admin.id,
      broker: 'tradovate',
      environment: 'demo',
      kind: 'oauth',
      label: user.name,
      secret: { ...secret },
      ...(secret.expiresAt ? { tokenExpiresAt: new Date(secret.expiresAt) } : {}),
    });
    for (const a of user.accounts) {
      const account = await t.app.stores.accounts.create({
        credentialId: credential.id,
        ownerUserId: admin.id,
        brokerAccountId: String(a.id),
        name: a.name,
      });
      venueAccount.set(account.id, a.id);
      accountIds.push(account.id);
    }
  }
  sim.resetCounters();
  return {
    ...t,
    sim,
    users,
    venueAccount,
    accountIds,
    async stop() {
      await t.stop();
      await sim.close();
    },
  };
}

/** The venue's view of one account: its net position and working orders. */
export function venueState(sim: Simulator, venueAccountId: number) {
  const net = sim.positions(venueAccountId).reduce((s, p) => s + p.netPos, 0);
  const working = sim
    .orders(venueAccountId)
    .filter((o) => o.ordStatus === 'Working' || o.ordStatus === 'Suspended' || o.ordStatus === 'PendingNew');
  return { net, working };
}
