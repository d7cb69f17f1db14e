import type { Db } from '../client.js';
import type { SecretBox } from '../crypto.js';
import { AccountsRepository } from './accounts.js';
import { AuditRepository } from './audit.js';
import { ChannelsRepository } from './channels.js';
import { CredentialsRepository } from './credentials.js';
import { CronRunsRepository } from './cron-runs.js';
import { InboxRepository } from './inbox.js';
import { JournalRepository } from './journal.js';
import { OneTimeTokensRepository } from './one-time-tokens.js';
import { SettingsRepository } from './settings.js';
import { SignalsRepository } from './signals.js';
import { UsersRepository } from './users.js';
import { WebhookSourcesRepository } from './webhook-sources.js';

/** Every repository over one database. */
export interface Repositories {
  readonly users: UsersRepository;
  readonly credentials: CredentialsRepository;
  readonly accounts: AccountsRepository;
  readonly channels: ChannelsRepository;
  readonly signals: SignalsRepository;
  readonly journal: JournalRepository;
  readonly audit: AuditRepository;
  readonly settings: SettingsRepository;
  readonly cronRuns: CronRunsRepository;
  readonly webhookSources: WebhookSourcesRepository;
  readonly oneTimeTokens: OneTimeTokensRepository;
  readonly inbox: InboxRepository;
}

/** Builds every repository over `db`; credentials are sealed with `secretBox`. */
export function createRepositories({ db, secretBox }: { db: Db; secretBox: SecretBox }): Repositories {
  return {
    users: new UsersRepository({ db }),
    credentials: new CredentialsRepository({ db, secretBox }),
    accounts: new AccountsRepository({ db }),
    channels: new ChannelsRepository({ db }),
    signals: new SignalsRepository({ db }),
    journal: new JournalRepository({ db }),
    audit: new AuditRepository({ db }),
    settings: new SettingsRepository({ db }),
    cronRuns: new CronRunsRepository({ db }),
    webhookSources: new WebhookSourcesRepository({ db }),
    oneTimeTokens: new OneTimeTokensRepository({ db }),
    inbox: new InboxRepository({ db }),
  };
}
