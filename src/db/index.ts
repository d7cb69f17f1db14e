/**
 * Storage: the database handle, encryption at rest, and repositories that speak domain types.
 * Nothing drizzle-specific is exported except the opaque `Db` handle the repositories take.
 */
export {
  type Db,
  type DriverName,
  type OpenDatabaseOptions,
  type OpenedDatabase,
  openDatabase,
  ping,
} from './client.js';
export {
  ENCRYPTION_KEY_ENV,
  type KeyLog,
  type LoadEncryptionKeyOptions,
  loadEncryptionKey,
  SecretBox,
} from './crypto.js';
export { DatabaseInUse } from './instance-lock.js';
export {
  type AccountPatch,
  AccountsRepository,
  type ListOptions,
  type NewAccount,
} from './repositories/accounts.js';
export { AuditRepository } from './repositories/audit.js';
export { ChannelsRepository } from './repositories/channels.js';
export {
  CredentialsRepository,
  type NewCredential,
  type SecretWriteOptions,
} from './repositories/credentials.js';
export { CronRunsRepository } from './repositories/cron-runs.js';
export { InboxRepository, type PendingUpdate } from './repositories/inbox.js';
export { createRepositories, type Repositories } from './repositories/index.js';
export { JournalRepository } from './repositories/journal.js';
export { OneTimeTokensRepository } from './repositories/one-time-tokens.js';
export { SettingsRepository } from './repositories/settings.js';
export { type NewSignal, SignalsRepository } from './repositories/signals.js';
export * from './repositories/types.js';
export { UsersRepository } from './repositories/users.js';
export { WebhookSourcesRepository } from './repositories/webhook-sources.js';
