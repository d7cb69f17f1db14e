/** Chat channels: where providers broadcast signals, where reports go, and who follows what. */
import {
  type AnyPgColumn,
  boolean,
  check,
  index,
  pgTable,
  primaryKey,
  text,
  unique,
} from 'drizzle-orm/pg-core';
import { CHANNEL_ROLES, PLATFORMS } from '../repositories/types.js';
import { accounts } from './brokers.js';
import { idColumn, instant, oneOf, refColumn } from './columns.js';
import { users } from './users.js';

export const channels = pgTable(
  'channels',
  {
    /** Our channel id. */
    id: idColumn(),
    /** discord, telegram, console or webhook. */
    platform: text('platform', { enum: PLATFORMS }).notNull(),
    /** The platform's chat id (Discord channel snowflake, Telegram chat id), as text. */
    chatId: text('chat_id').notNull(),
    /** signal: providers broadcast here; report: outcomes are posted here. */
    role: text('role', { enum: CHANNEL_ROLES }).notNull(),
    /** The chat's title when registered, for display. */
    title: text('title'),
    /** For a signal channel: the report channel its outcomes go to; null to reply in place. */
    reportChannelId: refColumn('report_channel_id').references((): AnyPgColumn => channels.id, {
      onDelete: 'set null',
    }),
    /** When the channel was registered (UTC). */
    createdAt: instant('created_at').notNull().defaultNow(),
  },
  (t) => [
    unique('channels_platform_chat_id_role_unique').on(t.platform, t.chatId, t.role),
    check('channels_platform_check', oneOf(t.platform, PLATFORMS)),
    check('channels_role_check', oneOf(t.role, CHANNEL_ROLES)),
  ],
);

export const channelProviders = pgTable(
  'channel_providers',
  {
    /** The signal channel. */
    channelId: refColumn('channel_id')
      .notNull()
      .references(() => channels.id, { onDelete: 'cascade' }),
    /** A user allowed to broadcast in it (who must also hold the provider role). */
    userId: refColumn('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
  },
  (t) => [
    primaryKey({ columns: [t.channelId, t.userId] }),
    index('channel_providers_user_id_idx').on(t.userId),
  ],
);

export const subscriptions = pgTable(
  'subscriptions',
  {
    /** The account that follows the channel. */
    accountId: refColumn('account_id')
      .notNull()
      .references(() => accounts.id, { onDelete: 'cascade' }),
    /** The signal channel it follows. */
    channelId: refColumn('channel_id')
      .notNull()
      .references(() => channels.id, { onDelete: 'cascade' }),
    /** true: this account's outcomes go to its owner privately instead of the report channel. */
    reportPrivate: boolean('report_private').notNull().default(false),
  },
  (t) => [
    primaryKey({ columns: [t.accountId, t.channelId] }),
    index('subscriptions_channel_id_idx').on(t.channelId),
  ],
);
