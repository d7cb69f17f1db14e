/**
 * A local Tradovate: REST and WebSocket on one port of 127.0.0.1, over the paper exchange, with
 * Tradovate's sessions, limits and penalty tickets, and failures a test can inject. A client written
 * against the real API points its base URLs here and runs unchanged.
 *
 * ```ts
 * const sim = await startSimulator({ users: [DEMO_USER] });
 * // sim.restUrl = http://127.0.0.1:PORT/v1, sim.wsUrl = ws://127.0.0.1:PORT/v1/websocket
 * await sim.close();
 * ```
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PaperExchange } from '../../../src/brokers/paper/exchange.js';
import { Api, RequestLog } from './api.js';
import {
  AuthService,
  DEFAULT_REFRESH_LIFETIME_MS,
  DEFAULT_TOKEN_LIFETIME_MS,
  type SessionInfo,
} from './auth.js';
import { EntityStore, type PositionEntity, seedReferenceData, toJson } from './entities.js';
import { defaultFaults, drawDelay, FaultInjector, seededRandom } from './faults.js';
import { EndpointLimiter, UserRateLimiter } from './limits.js';
import { createRestListener, type OAuthPageSettings } from './rest.js';
import { type SimOrderView, TradovateState } from './state.js';
import {
  type Clock,
  type Faults,
  type LatencyOption,
  type LimitOptions,
  type OAuthClientOption,
  type SimUserOption,
  systemClock,
  type WebSocketOptions,
} from './types.js';
import { DEFAULT_WS_OPTIONS, type ShutdownReason, SocketHub } from './ws.js';

export type { RequestFilter, RequestLog, RequestRecord } from './api.js';
export type { SessionInfo } from './auth.js';
export type { SimOrderView } from './state.js';
export * from './types.js';
export type { ShutdownReason } from './ws.js';

/** A user with an API key and three accounts; the CLI prints its login. */
export const DEMO_USER: SimUserOption = {
  name: 'demo',
  password: 'demo-password',
  userId: 5001,
  cid: 8,
  sec: '3f1c2a9e-0d4b-4c6e-9a57-1b2c3d4e5f60',
  appId: 'tradecast',
  accounts: [
    { id: 700_001, name: 'DEMO700001' },
    { id: 700_002, name: 'DEMO700002' },
    { id: 700_003, name: 'DEMO700003' },
  ],
};

export const DEMO_OAUTH_CLIENT: OAuthClientOption = {
  clientId: 'tradecast-local',
  clientSecret: 'tradecast-local-secret',
  redirectUris: ['http://127.0.0.1:8080/oauth/callback'],
};

export interface SimulatorOptions {
  /** Default: {@link DEMO_USER}. */
  readonly users?: readonly SimUserOption[];
  /** Default: {@link DEMO_OAUTH_CLIENT}. */
  readonly oauthClients?: readonly OAuthClientOption[];
  /** The user the authorize page approves without a form; null (default) renders the form. */
  readonly oauthUser?: string | null;
  /** Access-token lifetime; default 80 minutes. */
  readonly tokenLifetimeMs?: number;
  /** OAuth refresh-token lifetime; default 26 hours. */
  readonly refreshTokenLifetimeMs?: number;
  /** Concurrent sessions per user before the oldest is closed; default 2. */
  readonly maxSessionsPerUser?: number;
  readonly limits?: LimitOptions;
  /** Added to every answer; an object draws `meanMs ± jitterMs` from the seeded generator. */
  readonly latency?: LatencyOption;
  /**
   * One-way network delay: every request waits this long on its way in, every answer and `props`
   * event on its way out, in order per connection (a round trip costs it twice).
   */
  readonly network?: LatencyOption;
  /** Initial faults; change them later through `sim.faults`. */
  readonly faults?: Partial<Faults>;
  /** Seed of the fault and latency draws (and of a created exchange's price walk). Default 1. */
  readonly seed?: number;
  /** Time for tokens, rate windows and the created exchange. Default: the system clock. */
  readonly clock?: Clock;
  readonly ws?: WebSocketOptions;
  /** An exchange to wrap; by default one is created on `clock`. Missing accounts are added to it. */
  readonly exchange?: PaperExchange;
  /** Starting prices by product root, for a created exchange. */
  readonly startPrices?: Readonly<Record<string, number>>;
  /** Default 0: a free port. */
  readonly port?: number;
}

export interface Simulator {
  /** `http://127.0.0.1:PORT/v1` */
  readonly restUrl: string;
  /** `ws://127.0.0.1:PORT/v1/websocket`; serves as the market-data URL too. */
  readonly wsUrl: string;
  /** `http://127.0.0.1:PORT/oauth` */
  readonly oauthAuthorizeUrl: string;
  readonly port: number;
  readonly exchange: PaperExchange;
  readonly clock: Clock;
  /** Mutable at runtime: `sim.faults.timeoutRate = 0.5`. */
  readonly faults: Faults;
  /** Mutable at runtime: `sim.oauth.user = 'demo'` approves authorize requests without a form. */
  readonly oauth: OAuthPageSettings;
  /** Every request received, with user, endpoint, method, transport, time and answer status. */
  readonly requests: RequestLog;
  /** Raw entity store, for assertions the helpers below do not cover. */
  readonly store: EntityStore;
  /** The user's open sessions, oldest first. */
  sessions(userName: string): SessionInfo[];
  /** The user's open, authorized WebSockets. */
  sockets(userName: string): number;
  /** The account's orders as Tradovate shows them, with their latest version and client order id. */
  orders(accountId: number): SimOrderView[];
  /** The account's position entities (closed ones stay at netPos 0). */
  positions(accountId: number): PositionEntity[];
  /** Move the front month of a product root (or a contract by name) and fill what the move reaches. */
  setPrice(rootOrContract: string, price: number): void;
  /** Push `shutdown` to the user's sockets and close them; returns how many. */
  shutdownSockets(userName: string, reasonCode?: ShutdownReason, reason?: string): number;
  /** Close all of the user's sessions: their tokens answer 401 and their sockets close. */
  revokeSessions(userName: string): void;
  /** Forget request history, rate windows and penalty tickets (sessions and orders stay). */
  resetCounters(): void;
  close(): Promise<void>;
}

export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const clock = options.clock ?? systemClock;
  const users = options.users ?? [DEMO_USER];
  const seed = options.seed ?? 1;
  const exchange =
    options.exchange ??
    new PaperExchange({
      now: () => new Date(clock.now()),
      seed,
      ...(options.startPrices ? { startPrices: options.startPrices } : {}),
    });
  const auth = new AuthService(
    clock,
    users,
    options.oauthClients ?? [DEMO_OAUTH_CLIENT],
    options.tokenLifetimeMs ?? DEFAULT_TOKEN_LIFETIME_MS,
    options.refreshTokenLifetimeMs ?? DEFAULT_REFRESH_LIFETIME_MS,
    options.maxSessionsPerUser ?? 2,
  );
  const store = new EntityStore();
  seedReferenceData(store);
  const state = new TradovateState(store, exchange, users);
  const faults = defaultFaults(options.faults);
  const log = new RequestLog();
  const userLimiter = new UserRateLimiter(clock, options.limits);
  const endpointLimiter = new EndpointLimiter(clock, options.limits);
  const wsOptions = { ...DEFAULT_WS_OPTIONS, ...options.ws };
  const api = new Api({
    clock,
    auth,
    state,
    store,
    userLimiter,
    endpointLimiter,
    endpointKey: options.limits?.endpointKey ?? 'ip',
    faults: new FaultInjector(faults, seededRandom(seed), options.latency),
    log,
    syncRequiresEntityTypes: wsOptions.syncRequiresEntityTypes,
  });
  const network = networkDelay(options.network, seed);
  const hub = new SocketHub({ api, auth, state, store, log, clock, faults, network, options: wsOptions });
  const oauth: OAuthPageSettings = { user: options.oauthUser ?? null };

  const server = createServer(createRestListener(api, auth, oauth, network));
  server.on('upgrade', (request, socket, head) => hub.handleUpgrade(request, socket, head));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const userNamed = (name: string) => {
    const user = auth.userByName(name);
    if (!user) throw new Error(`the simulator has no user ${name}`);
    return user;
  };

  return {
    restUrl: `http://127.0.0.1:${port}/v1`,
    wsUrl: `ws://127.0.0.1:${port}/v1/websocket`,
    oauthAuthorizeUrl: `http://127.0.0.1:${port}/oauth`,
    port,
    exchange,
    clock,
    faults,
    oauth,
    requests: log,
    store,
    sessions: (userName) => auth.sessionsOf(userNamed(userName).userId).map((s) => auth.describe(s)),
    sockets: (userName) => hub.countFor(userName),
    orders: (accountId) => state.ordersOf(accountId),
    positions: (accountId) =>
      store
        .where('position', (p) => p.accountId === accountId)
        .map((p) => toJson('position', p) as unknown as PositionEntity),
    setPrice: (rootOrContract, price) => exchange.setPrice(rootOrContract, price),
    shutdownSockets: (userName, reasonCode = 'Maintenance', reason) =>
      hub.shutdown(userName, reasonCode, reason),
    revokeSessions: (userName) => {
      for (const s of auth.sessionsOf(userNamed(userName).userId)) auth.closeSession(s, 'Session revoked');
    },
    resetCounters: () => {
      log.clear();
      userLimiter.reset();
      endpointLimiter.reset();
    },
    close: async () => {
      hub.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Draws of the one-way network delay, from a generator of their own (fault draws stay as they were). */
function networkDelay(option: LatencyOption | undefined, seed: number): (() => number) | null {
  if (option === undefined) return null;
  const random = seededRandom((seed ^ 0x5bd1e995) >>> 0);
  const info = { endpoint: '', transport: 'ws' as const, userName: null };
  return () => drawDelay(option, random, info);
}
