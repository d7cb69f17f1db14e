/**
 * The composition root: the one place that builds concrete infrastructure (database, brokers,
 * engine, command layer) and wires it together. Everything else takes its dependencies in a
 * constructor options object.
 */
import { createHmac } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { Broker } from './brokers/broker.js';
import { PaperBroker, PaperExchange } from './brokers/paper/index.js';
import {
  DEFAULT_LIMITS,
  exchangeOAuthCode,
  TradovateBroker,
  type TradovateSecret,
} from './brokers/tradovate/index.js';
import { CommandService } from './commands/service.js';
import type { Config } from './config.js';
import {
  AccountsRepository,
  AuditRepository,
  ChannelsRepository,
  CredentialsRepository,
  CronRunsRepository,
  type Db,
  InboxRepository,
  JournalRepository,
  loadEncryptionKey,
  OneTimeTokensRepository,
  openDatabase,
  ping,
  SecretBox,
  SettingsRepository,
  SignalsRepository,
  UsersRepository,
  WebhookSourcesRepository,
} from './db/index.js';
import { type Clock, systemClock } from './domain/clock.js';
import type { BrokerName } from './domain/types.js';
import { Engine } from './engine/engine.js';
import { createHttpServer, createLinkIssuer, type HttpServer, type OAuthLinking } from './http/index.js';
import { createJobs, type Jobs } from './jobs/index.js';
import type { Logger } from './log.js';
import { CompositeNotifier, type Notifier, notifyUser } from './ports/notifier.js';

/** Thrown by `createApp` when another process holds the database. */
export { DatabaseInUse } from './db/index.js';

export interface AppOptions {
  readonly config: Config;
  readonly log: Logger;
  readonly clock?: Clock;
  /** Replaces the paper exchange (tests set prices on it). */
  readonly exchange?: PaperExchange;
  /** PostgreSQL only: keep every table in this schema (tests give each file its own). */
  readonly databaseSchema?: string;
}

export interface App {
  readonly config: Config;
  readonly log: Logger;
  readonly commands: CommandService;
  readonly engine: Engine;
  /** Transports add themselves here; the service notifies through it. */
  readonly notifier: CompositeNotifier & Notifier;
  readonly exchange: PaperExchange;
  readonly brokers: ReadonlyMap<BrokerName, Broker>;
  /** The Tradovate adapter, when Tradovate is configured (jobs and the dashboard use its extras). */
  readonly tradovate: TradovateBroker | null;
  readonly stores: {
    readonly users: UsersRepository;
    readonly accounts: AccountsRepository;
    readonly channels: ChannelsRepository;
    readonly credentials: CredentialsRepository;
    readonly signals: SignalsRepository;
    readonly journal: JournalRepository;
    readonly audit: AuditRepository;
    readonly settings: SettingsRepository;
    readonly webhookSources: WebhookSourcesRepository;
    readonly oneTimeTokens: OneTimeTokensRepository;
    /** Chat updates taken but maybe not yet handled (a transport runs those again at start). */
    readonly inbox: InboxRepository;
  };
  /** The web server (OAuth linking, TradingView webhook, dashboard, metrics); `listen` starts it. */
  readonly http: HttpServer;
  /** Token refresh and reconciliation; `start` schedules them (main.ts does, tests need not). */
  readonly jobs: Jobs;
  /** Whether the database is the embedded one. */
  readonly embedded: boolean;
  readonly db: Db;
  close(): Promise<void>;
}

/** The console user's id on the `console` platform. */
export const CONSOLE_USER = 'local';

export async function createApp(options: AppOptions): Promise<App> {
  const { config, log } = options;
  const clock = options.clock ?? systemClock;
  const embedded = !config.DATABASE_URL;
  const dataDir = resolve(config.DATA_DIR);
  if (embedded) await mkdir(dataDir, { recursive: true });

  const database = await openDatabase(
    embedded
      ? { dataDir: join(dataDir, 'pglite') }
      : {
          url: config.DATABASE_URL!,
          exclusive: true,
          onHoldLost: (message: string) =>
            log.error(`${message}: two services may now act on the same accounts; stop one of them`),
          ...(options.databaseSchema ? { schemaName: options.databaseSchema } : {}),
        },
  );
  log.info({ driver: database.driver, ...(embedded ? { dataDir } : {}) }, 'database ready');
  const key = await loadEncryptionKey({
    ...(config.TRADECAST_ENCRYPTION_KEY ? { keyFromEnv: config.TRADECAST_ENCRYPTION_KEY } : {}),
    dataDir,
    embedded,
    log,
  });
  const db = database.db;
  const box = new SecretBox(key);
  const stores = {
    users: new UsersRepository({ db }),
    accounts: new AccountsRepository({ db }),
    channels: new ChannelsRepository({ db }),
    credentials: new CredentialsRepository({ db, secretBox: box }),
    signals: new SignalsRepository({ db }),
    journal: new JournalRepository({ db }),
    audit: new AuditRepository({ db }),
    settings: new SettingsRepository({ db }),
    webhookSources: new WebhookSourcesRepository({ db }),
    oneTimeTokens: new OneTimeTokensRepository({ db }),
    inbox: new InboxRepository({ db }),
  };

  const notifier = new CompositeNotifier([], (error) =>
    log.warn({ err: error }, 'a transport failed to notify'),
  );
  const exchange = options.exchange ?? new PaperExchange({ seed: 7 });
  const brokers = new Map<BrokerName, Broker>([['paper', new PaperBroker({ exchange })]]);
  const tradovate = config.TRADOVATE_REST_URL ? buildTradovate(config, log, stores, notifier) : null;
  if (tradovate) brokers.set('tradovate', tradovate);

  await seed({ config, log, stores, embedded });
  // The paper exchange lives in memory: register the stored paper accounts with it on every start.
  const all = await stores.accounts.listAll();
  for (const account of all) {
    if (account.broker === 'paper') {
      exchange.addAccount({ id: account.brokerAccountId, name: account.name, owner: account.credentialId });
    }
  }

  const engine = new Engine({
    brokers,
    signals: stores.signals,
    journal: stores.journal,
    settings: stores.settings,
    clock,
    log: log.child({ component: 'engine' }),
    concurrency: config.ENGINE_CONCURRENCY,
    progressIntervalMs: config.PROGRESS_INTERVAL_MS,
  });
  const recovered = await engine.recover(new Map(all.map((a) => [a.id, a])));
  if (recovered.resumed + recovered.expired > 0)
    log.warn(recovered, 'settled orders left unfinished by the last run');

  const oauth = oauthLinking(config);
  // The links `/link` and `/dashboard` hand out point at the web server; it is built after the
  // command layer, which it calls, so the issuer reads its URL when a link is made.
  let http: HttpServer | null = null;
  const links = createLinkIssuer({
    tokens: stores.oneTimeTokens,
    publicUrl: () => http!.url,
    oauthEnabled: oauth !== null,
    clock,
  });
  const commands = new CommandService({
    stores,
    engine,
    brokers,
    clock,
    log: log.child({ component: 'commands' }),
    confirmAboveAccounts: config.CONFIRM_ABOVE_ACCOUNTS,
    notifier,
    links,
  });
  const jobs = createJobs({
    log,
    clock,
    instance: `${hostname()}:${process.pid}`,
    stores: { ...stores, cronRuns: new CronRunsRepository({ db }) },
    brokers,
    tradovate,
    renewalsPerHour: DEFAULT_LIMITS.renewalsPerHour,
    notifier,
    reconcileIntervalMs: config.RECONCILE_INTERVAL_MS,
  });
  http = createHttpServer({
    stores,
    commands,
    engine,
    notifier,
    brokers,
    tradovate,
    oauth,
    ping: () => ping(db),
    log,
    clock,
    ...(config.PUBLIC_URL ? { publicUrl: config.PUBLIC_URL } : {}),
    ...(config.HTTP_TRUST_PROXY ? { trustProxy: config.HTTP_TRUST_PROXY } : {}),
    // Derived from the encryption key, so sessions survive a restart without another secret to keep.
    cookieSecret: createHmac('sha256', key).update('tradecast http cookies v1').digest(),
    lastReconciliation: () => jobs.lastReconciliation(),
  });

  let closed = false;
  return {
    config,
    log,
    commands,
    engine,
    notifier,
    exchange,
    brokers,
    tradovate,
    stores,
    http,
    jobs,
    embedded,
    db,
    async close() {
      if (closed) return;
      closed = true;
      await jobs.stopAll();
      // The web server first: it waits for fan-outs that webhooks started.
      await http.close();
      for (const broker of brokers.values()) await broker.close();
      await database.close();
      log.info('database closed');
    },
  };
}

/** Tradovate OAuth linking, when an OAuth application is configured. */
function oauthLinking(config: Config): OAuthLinking | null {
  const rest = config.TRADOVATE_REST_URL?.replace(/\/$/, '');
  const clientId = config.TRADOVATE_OAUTH_CLIENT_ID;
  const clientSecret = config.TRADOVATE_OAUTH_CLIENT_SECRET;
  if (!rest || !clientId || !clientSecret) return null;
  return {
    authorizeUrl: config.TRADOVATE_OAUTH_AUTHORIZE_URL,
    clientId,
    environment: config.TRADOVATE_ENV,
    exchangeCode: ({ code, redirectUri }) =>
      exchangeOAuthCode({ tokenUrl: `${rest}/auth/oauthtoken`, clientId, clientSecret, redirectUri, code }),
  };
}

function buildTradovate(
  config: Config,
  log: Logger,
  stores: App['stores'],
  notifier: Notifier,
): TradovateBroker {
  const restUrl = config.TRADOVATE_REST_URL!;
  const wsUrl = config.TRADOVATE_WS_URL ?? `${restUrl.replace(/^http/, 'ws').replace(/\/$/, '')}/websocket`;
  const oauth =
    config.TRADOVATE_OAUTH_CLIENT_ID && config.TRADOVATE_OAUTH_CLIENT_SECRET
      ? {
          tokenUrl: `${restUrl.replace(/\/$/, '')}/auth/oauthtoken`,
          clientId: config.TRADOVATE_OAUTH_CLIENT_ID,
          clientSecret: config.TRADOVATE_OAUTH_CLIENT_SECRET,
        }
      : undefined;
  const tradovateLog = log.child({ component: 'tradovate' });
  return new TradovateBroker({
    restUrl,
    wsUrl,
    log: tradovateLog,
    credentials: {
      read: async (id) => ((await stores.credentials.readSecret(id)) ?? {}) as TradovateSecret,
      write: async (id, secret, meta) => {
        // Only the token fields: an API key saved from the dashboard meanwhile must not be lost.
        const { accessToken, expiresAt, refreshToken, userId } = secret;
        const patch = Object.fromEntries(
          Object.entries({ accessToken, expiresAt, refreshToken, userId }).filter(([, v]) => v !== undefined),
        );
        await stores.credentials.mergeSecret(id, patch, {
          tokenExpiresAt: meta.tokenExpiresAt,
          // The refresh-token grant is the OAuth path.
          tokenSource: meta.tokenSource === 'refreshed' ? 'oauth' : meta.tokenSource,
        });
      },
    },
    limits: {
      perSecond: config.TRADOVATE_RATE_PER_SECOND,
      perMinute: config.TRADOVATE_RATE_PER_MINUTE,
      perHour: config.TRADOVATE_RATE_PER_HOUR,
      cooldownMs: config.TRADOVATE_COOLDOWN_MS,
    },
    pool: { maxSockets: config.TRADOVATE_POOL_MAX_SOCKETS },
    timeouts: { requestMs: config.TRADOVATE_REQUEST_TIMEOUT_MS },
    ...(oauth ? { tokens: { oauth } } : {}),
    onCredentialState: (credentialId, state, reason) => {
      void credentialStateChanged({ credentialId, state, reason, stores, notifier, log: tradovateLog });
    },
  });
}

/** Record a credential's new state, audit it, and tell its owner in every chat they are linked from. */
async function credentialStateChanged(input: {
  credentialId: string;
  state: 'ok' | 'needs_reauth' | 'locked';
  reason: string;
  stores: App['stores'];
  notifier: Notifier;
  log: Logger;
}): Promise<void> {
  const { credentialId, state, reason, stores, notifier, log } = input;
  try {
    const before = await stores.credentials.get(credentialId);
    // The adapter and the refresh job may both report the same change: tell the owner once.
    if (before?.state === state) return;
    const credential = await stores.credentials.setState(credentialId, state, state === 'ok' ? null : reason);
    await stores.audit.record({
      actor: 'system',
      action: `credential.${state}`,
      subject: `credential:${credentialId}`,
      details: { reason },
    });
    if (!credential || state === 'ok') return;
    const hint =
      state === 'locked'
        ? 'Tradovate asks for a captcha: sign in on Tradovate once, wait an hour, then /status. Nothing will retry until then.'
        : 'Run /link to authorize tradecast again.';
    await notifyUser(stores.users, notifier, credential.ownerUserId, (to) => ({
      type: 'credential_state',
      to,
      credentialLabel: credential.label,
      state,
      reason,
      hint,
    }));
    log.warn({ credentialId, state, reason }, 'credential needs attention; owner told');
  } catch (error) {
    log.error({ err: error, credentialId, state }, 'could not record a credential state change');
  }
}

/** Admins from ADMIN_IDS; in embedded mode the console user, and the demo on an empty database. */
async function seed(input: {
  config: Config;
  log: Logger;
  stores: App['stores'];
  embedded: boolean;
}): Promise<void> {
  const { config, log, stores, embedded } = input;
  const fresh = (await stores.users.count()) === 0;
  for (const id of config.ADMIN_IDS) {
    const [platform, externalId] = id.split(':') as ['discord' | 'telegram' | 'console', string];
    await stores.users.ensureIdentityUser(platform, externalId, id, ['admin']);
  }
  const demo = config.DEMO === 'on' || (config.DEMO === 'auto' && embedded);
  if (!embedded && !demo) return;
  const admin = await stores.users.ensureIdentityUser('console', CONSOLE_USER, 'Console admin', ['admin']);
  if (!fresh || !demo) return;
  for (let c = 1; c <= 5; c++) {
    const credential = await stores.credentials.create({
      ownerUserId: admin.id,
      broker: 'paper',
      environment: 'paper',
      kind: 'api_key',
      label: `Demo ${c}`,
      secret: { note: 'paper credential: no secret needed' },
    });
    for (let a = 1; a <= 4; a++) {
      await stores.accounts.create({
        credentialId: credential.id,
        ownerUserId: admin.id,
        brokerAccountId: `DEMO${c}${a}`,
        name: `DEMO-${c}-${a}`,
        group: c <= 2 ? 'eval' : 'funded',
      });
    }
  }
  log.info({ accounts: 20, credentials: 5 }, 'created the demo: the console admin with 20 paper accounts');
}
