/** The Tradovate adapter's public surface, for the composition root, the jobs wiring and the OAuth callback. */
export type {
  CacheOptions,
  CoalesceOptions,
  TimeoutOptions,
  TradovateBrokerOptions,
  TradovateEvent,
} from './broker.js';
export { DEFAULT_CACHE, DEFAULT_COALESCE, DEFAULT_TIMEOUTS, TradovateBroker } from './broker.js';
export type { BudgetUsage, RateLimitOptions, WindowLimiter, WindowLimiterFactory } from './limits.js';
export { DEFAULT_LIMITS, memoryWindowLimiter } from './limits.js';
export type { PoolOptions } from './pool.js';
export { DEFAULT_POOL } from './pool.js';
export type { FetchLike } from './rest.js';
export type { OAuthClient, OAuthFailure, OAuthTokens, TokenOptions } from './tokens.js';
export { DEFAULT_TOKEN_OPTIONS, exchangeOAuthCode, refreshOAuthToken } from './tokens.js';
export type {
  Clock,
  CredentialStore,
  Logger,
  Priority,
  TokenSource,
  TradovateCredentialState,
  TradovateSecret,
} from './types.js';
export { systemClock } from './types.js';
