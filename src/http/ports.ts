/**
 * What the web server needs from the rest of the service, as interfaces. The composition root hands
 * over the repositories, the command layer, the engine and the Tradovate extras; nothing here builds
 * infrastructure or reaches into a venue folder.
 */
import type { BrokerAccountInfo, BrokerResult } from '../brokers/broker.js';
import type { CommandService } from '../commands/service.js';
import type { AccountsRepository } from '../db/repositories/accounts.js';
import type { AuditRepository } from '../db/repositories/audit.js';
import type { ChannelsRepository } from '../db/repositories/channels.js';
import type { CredentialsRepository } from '../db/repositories/credentials.js';
import type { JournalRepository } from '../db/repositories/journal.js';
import type { OneTimeTokensRepository } from '../db/repositories/one-time-tokens.js';
import type { SignalsRepository } from '../db/repositories/signals.js';
import type { UsersRepository } from '../db/repositories/users.js';
import type { WebhookSourcesRepository } from '../db/repositories/webhook-sources.js';
import type { Result } from '../domain/result.js';
import type { CredentialState } from '../domain/types.js';
import type { Engine } from '../engine/engine.js';

/** The repositories the web server reads and writes. `app.stores` plus the two web repositories. */
export interface HttpStores {
  readonly users: Pick<
    UsersRepository,
    'get' | 'findByIdentity' | 'linkIdentity' | 'unlinkIdentity' | 'listIdentities'
  >;
  readonly accounts: Pick<
    AccountsRepository,
    'get' | 'listForUser' | 'listAll' | 'listByCredential' | 'create' | 'update'
  >;
  readonly credentials: Pick<
    CredentialsRepository,
    'get' | 'list' | 'create' | 'delete' | 'mergeSecret' | 'setState'
  >;
  readonly channels: Pick<ChannelsRepository, 'get' | 'list' | 'isProvider'>;
  readonly signals: Pick<SignalsRepository, 'get' | 'recentHeads' | 'withOutcomesOf' | 'findByDedupKey'>;
  readonly journal: Pick<JournalRepository, 'listBySignal' | 'countsByState' | 'signalsOf'>;
  readonly audit: Pick<AuditRepository, 'record'>;
  readonly webhookSources: Pick<
    WebhookSourcesRepository,
    'create' | 'get' | 'list' | 'touch' | 'setEnabled' | 'delete'
  >;
  readonly oneTimeTokens: Pick<
    OneTimeTokensRepository,
    'issue' | 'find' | 'consume' | 'consumeById' | 'purgeExpired'
  >;
}

/** The command layer's signal intake: the webhook is one more transport. */
export type HttpCommands = Pick<CommandService, 'ownSignal' | 'broadcast' | 'confirm'>;

/** The engine's fan-out notifications (metrics and live dashboard updates). */
export type HttpEngine = Pick<Engine, 'onFanout'>;

/** Requests used in a credential's rate windows, with the limits (the Tradovate adapter's `budgetUsage`). */
export interface BudgetView {
  readonly second: number;
  readonly minute: number;
  readonly hour: number;
  readonly limits: { readonly second: number; readonly minute: number; readonly hour: number };
}

/** Transport counters of the Tradovate adapter (its `transportStats`). */
export interface TransportView {
  readonly ws: number;
  readonly rest: number;
  readonly restFallbacks: number;
  readonly openSockets: number;
  readonly socketsOpened: ReadonlyMap<string, number>;
}

/**
 * The Tradovate adapter's extras beyond the broker port, which `TradovateBroker` provides. Optional:
 * without Tradovate the dashboard shows no budgets and OAuth linking is off.
 */
export interface TradovateExtras {
  listAccounts(credentialId: string): Promise<BrokerResult<BrokerAccountInfo[]>>;
  resetCredential(credentialId: string): void;
  budgetUsage(credentialId: string): Promise<BudgetView>;
  credentialState(credentialId: string): CredentialState;
  transportStats(): TransportView;
  /** What the adapter remembers for its short window: placements by client order id, and its orders. */
  cacheStats(): { readonly placements: number; readonly orders: number };
}

/** Tokens from Tradovate's OAuth code exchange. */
export interface OAuthTokenSet {
  readonly accessToken: string;
  readonly expiresAt: Date;
  readonly refreshToken?: string;
}

/**
 * Tradovate's OAuth application, for linking logins. `exchangeCode` is `exchangeOAuthCode` bound to
 * the token URL (the REST base plus `/auth/oauthtoken`), client id and client secret.
 */
export interface OAuthLinking {
  /** Tradovate's authorize page (TRADOVATE_OAUTH_AUTHORIZE_URL). */
  readonly authorizeUrl: string;
  readonly clientId: string;
  /** The environment linked logins trade in (TRADOVATE_ENV). */
  readonly environment: 'demo' | 'live';
  exchangeCode(input: {
    readonly code: string;
    readonly redirectUri: string;
  }): Promise<Result<OAuthTokenSet, { readonly error: string; readonly description?: string }>>;
}

/** The last reconciliation cycle, as the reconciliation job reports it (`jobs.lastReconciliation()`). */
export type { ReconcileReport } from '../engine/reconciler.js';
