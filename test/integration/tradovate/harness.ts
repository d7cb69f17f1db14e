/**
 * The Tradovate adapter wired to a local simulator: users and accounts on the venue side,
 * credentials linked through the simulator's own OAuth flow (as the linking page would), and an
 * adapter whose clock is the simulator's, so token expiry and penalty waits move both at once.
 */
import type { AccountRef, OrderRequest } from '../../../src/brokers/broker.js';
import type {
  TradovateBrokerOptions,
  TradovateEvent,
  TradovateSecret,
} from '../../../src/brokers/tradovate/index.js';
import { exchangeOAuthCode, TradovateBroker } from '../../../src/brokers/tradovate/index.js';
import {
  DEMO_OAUTH_CLIENT,
  ManualClock,
  type SimUserOption,
  type Simulator,
  type SimulatorOptions,
  startSimulator,
} from '../../fakes/tradovate/server.js';
import { MemoryCredentialStore, MemoryLogger } from '../../unit/tradovate/fake-venue.js';

/** A monday afternoon in January 2026: MNQH6 is the front month. */
export const START = Date.UTC(2026, 0, 5, 15, 0, 0);

export function makeUser(index: number, accounts: number): SimUserOption {
  const userId = 10_000 + index;
  return {
    name: `trader${index}`,
    password: `pw-${index}-secret`,
    userId,
    cid: 8,
    sec: `sec-${index}`,
    appId: 'tradecast',
    accounts: Array.from({ length: accounts }, (_, k) => ({
      id: userId * 100 + k + 1,
      name: `T${index}A${k + 1}`,
    })),
  };
}

/** Our reference to the user's `k`-th venue account (its credential is named after the user). */
export function accountRef(user: SimUserOption, k = 0): AccountRef {
  return { credentialId: user.name, brokerAccountId: String(user.accounts[k]!.id) };
}

/** A one-lot MNQH6 limit buy at 21,000: below the price the tests set, so it rests as working. */
export function restingBuy(account: AccountRef, clientOrderId: string): OrderRequest {
  return { account, clientOrderId, contract: 'MNQH6', side: 'buy', quantity: 1, type: 'limit', price: 21000 };
}

/** The API-access login fields of a user, for credentials that keep the last-resort fallback. */
export function loginFields(user: SimUserOption): TradovateSecret {
  return {
    name: user.name,
    password: user.password,
    ...(user.appId ? { appId: user.appId } : {}),
    appVersion: '1.0',
    ...(user.cid !== undefined ? { cid: user.cid } : {}),
    ...(user.sec ? { sec: user.sec } : {}),
    deviceId: 'tradecast-test',
  };
}

/** Link a user through the OAuth code flow and return what the store keeps. */
export async function linkViaOAuth(sim: Simulator, userName: string): Promise<TradovateSecret> {
  sim.oauth.user = userName;
  const authorize = new URL(sim.oauthAuthorizeUrl);
  authorize.searchParams.set('response_type', 'code');
  authorize.searchParams.set('client_id', DEMO_OAUTH_CLIENT.clientId);
  authorize.searchParams.set('redirect_uri', DEMO_OAUTH_CLIENT.redirectUris[0]!);
  const res = await fetch(authorize, { redirect: 'manual' });
  const location = res.headers.get('location');
  const code = location ? new URL(location).searchParams.get('code') : null;
  if (!code) throw new Error(`authorize page gave no code (HTTP ${res.status})`);
  const tokens = await exchangeOAuthCode({
    tokenUrl: `http://127.0.0.1:${sim.port}/auth/oauthtoken`,
    clientId: DEMO_OAUTH_CLIENT.clientId,
    clientSecret: DEMO_OAUTH_CLIENT.clientSecret,
    redirectUri: DEMO_OAUTH_CLIENT.redirectUris[0]!,
    code,
    now: sim.clock.now(),
  });
  if (!tokens.ok) throw new Error(`code exchange refused: ${tokens.error.error}`);
  return {
    accessToken: tokens.value.accessToken,
    expiresAt: tokens.value.expiresAt.toISOString(),
    ...(tokens.value.refreshToken ? { refreshToken: tokens.value.refreshToken } : {}),
  };
}

export interface Rig {
  readonly sim: Simulator;
  readonly clock: ManualClock;
  readonly broker: TradovateBroker;
  readonly store: MemoryCredentialStore;
  readonly log: MemoryLogger;
  readonly states: [string, string, string][];
  readonly events: TradovateEvent[];
  /** Total time the adapter asked to sleep (penalty waits), ms. */
  readonly slept: number[];
  close(): Promise<void>;
}

export interface RigOptions {
  readonly users: readonly SimUserOption[];
  /** How each user's credential (id = user name) starts out. Default: linked through OAuth. */
  readonly credential?: (user: SimUserOption, sim: Simulator) => Promise<TradovateSecret>;
  readonly sim?: Omit<SimulatorOptions, 'users' | 'clock'>;
  readonly broker?: Partial<
    Omit<TradovateBrokerOptions, 'restUrl' | 'wsUrl' | 'credentials' | 'log' | 'clock'>
  >;
}

export async function rig(options: RigOptions): Promise<Rig> {
  const clock = new ManualClock(START);
  const sim = await startSimulator({ ...options.sim, users: options.users, clock });
  const store = new MemoryCredentialStore();
  for (const user of options.users) {
    const secret = options.credential
      ? await options.credential(user, sim)
      : await linkViaOAuth(sim, user.name);
    store.secrets.set(user.name, secret);
  }
  // Linking is set-up: the tests count what the adapter sends from here on.
  sim.resetCounters();
  const log = new MemoryLogger();
  const states: [string, string, string][] = [];
  const events: TradovateEvent[] = [];
  const slept: number[] = [];
  const broker = new TradovateBroker({
    restUrl: sim.restUrl,
    wsUrl: sim.wsUrl,
    credentials: store,
    log,
    // The simulator's clock: a penalty wait moves venue time, so the ticket is ready when resent.
    clock: {
      now: () => clock.now(),
      sleep: async (ms) => {
        slept.push(ms);
        clock.advance(ms);
      },
    },
    onCredentialState: (id, state, reason) => states.push([id, state, reason]),
    onEvent: (e) => events.push(e),
    ...options.broker,
  });
  return {
    sim,
    clock,
    broker,
    store,
    log,
    states,
    events,
    slept,
    close: async () => {
      await broker.close();
      await sim.close();
    },
  };
}

/** Wait for a condition, polling; never a fixed sleep. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
