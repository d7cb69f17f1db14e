/**
 * Settings come from the environment only (`.env` is loaded by `main.ts`). One parse, one error
 * listing every problem, then a frozen, typed Config.
 */
import { z } from 'zod';

const positiveInt = z.coerce.number().int().positive();

const adminIds = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean),
  )
  .pipe(
    z.array(
      z
        .string()
        .regex(
          /^(discord|telegram|console):[A-Za-z0-9_.-]+$/,
          'each entry must look like discord:123 or telegram:456',
        ),
    ),
  );

const url = z.url();

export const configSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Unset: embedded PGlite in DATA_DIR. Set: PostgreSQL through postgres.js. */
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional(),
  DATA_DIR: z.string().min(1).default('./data'),
  /** 32 bytes, base64 or hex. Required with PostgreSQL; generated into DATA_DIR when embedded. */
  TRADECAST_ENCRYPTION_KEY: z.string().optional(),
  ADMIN_IDS: adminIds.default([]),
  /** The broker used for demo accounts and when no Tradovate settings are given. */
  BROKER: z.enum(['paper', 'tradovate']).default('paper'),
  /** auto: create the demo (console admin, paper accounts) in an empty embedded database; on: also on PostgreSQL. */
  DEMO: z.enum(['auto', 'on', 'off']).default('auto'),
  CONSOLE: z.enum(['auto', 'on', 'off']).default('auto'),
  /** Accounts worked on at once across all credential lanes: bounds the memory a fan-out holds. */
  ENGINE_CONCURRENCY: positiveInt.default(1536),
  /** A command touching more accounts than this asks for confirmation in chat. */
  CONFIRM_ABOVE_ACCOUNTS: positiveInt.default(25),
  PROGRESS_INTERVAL_MS: positiveInt.default(1500),
  /** How often reconciliation compares every account with the broker, in ms. */
  RECONCILE_INTERVAL_MS: z.coerce.number().int().min(1000).default(30_000),

  TRADOVATE_ENV: z.enum(['demo', 'live']).default('demo'),
  TRADOVATE_REST_URL: url.optional(),
  TRADOVATE_WS_URL: z
    .string()
    .regex(/^wss?:\/\//, 'must be a ws:// or wss:// URL')
    .optional(),
  TRADOVATE_APP_ID: z.string().optional(),
  TRADOVATE_APP_VERSION: z.string().default('1.0'),
  TRADOVATE_OAUTH_CLIENT_ID: z.string().optional(),
  TRADOVATE_OAUTH_CLIENT_SECRET: z.string().optional(),
  TRADOVATE_OAUTH_AUTHORIZE_URL: url.default('https://trader.tradovate.com/oauth'),
  TRADOVATE_RATE_PER_SECOND: positiveInt.default(10),
  TRADOVATE_RATE_PER_MINUTE: positiveInt.default(80),
  TRADOVATE_RATE_PER_HOUR: positiveInt.default(5000),
  TRADOVATE_COOLDOWN_MS: positiveInt.default(3_600_000),
  TRADOVATE_POOL_MAX_SOCKETS: positiveInt.default(500),
  /** A request unanswered this long is an unknown outcome (settled by lookup), in ms. */
  TRADOVATE_REQUEST_TIMEOUT_MS: positiveInt.default(10_000),

  DISCORD_TOKEN: z.string().min(1).optional(),
  DISCORD_GUILD_ID: z.string().optional(),
  DISCORD_API_ROOT: url.optional(),
  TELEGRAM_BOT_TOKEN: z.string().min(1).optional(),
  TELEGRAM_API_ROOT: url.optional(),
  TELEGRAM_WEBHOOK_URL: url.optional(),
  TELEGRAM_WEBHOOK_SECRET: z.string().optional(),

  HTTP_HOST: z.string().default('127.0.0.1'),
  HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  PUBLIC_URL: url.optional(),
  /** Behind a reverse proxy: which hops to trust for the client address (true, a count, or addresses). */
  HTTP_TRUST_PROXY: z.string().optional(),
});

export type Config = Readonly<z.infer<typeof configSchema>>;

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parse the environment; throws one ConfigError naming every problem. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  // Empty strings in .env files mean "unset", as most tools treat them.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = configSchema.safeParse(cleaned);
  const problems: string[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = issue.path.join('.') || '(root)';
      const value = cleaned[key];
      const shown = value === undefined || isSecretKey(key) ? '' : ` (got "${value}")`;
      problems.push(`${key}: ${issue.message}${shown}`);
    }
    throw new ConfigError(problems);
  }
  const c = parsed.data;
  if (c.BROKER === 'tradovate' && !c.TRADOVATE_REST_URL) {
    problems.push('TRADOVATE_REST_URL: required when BROKER=tradovate');
  }
  if (c.TELEGRAM_WEBHOOK_URL && !c.TELEGRAM_WEBHOOK_SECRET) {
    problems.push('TELEGRAM_WEBHOOK_SECRET: required when TELEGRAM_WEBHOOK_URL is set');
  }
  if (c.DATABASE_URL && !c.TRADECAST_ENCRYPTION_KEY) {
    problems.push('TRADECAST_ENCRYPTION_KEY: required with DATABASE_URL (32 bytes, base64 or hex)');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(c);
}

function isSecretKey(key: string): boolean {
  return /TOKEN|SECRET|KEY|PASSWORD|DATABASE_URL/.test(key);
}
