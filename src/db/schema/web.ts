/** What the web server keeps: TradingView webhook sources and one-time tokens (sign-in links, OAuth states). */
import { type AnyPgColumn, boolean, check, index, jsonb, pgTable, text, unique } from 'drizzle-orm/pg-core';
import { ONE_TIME_PURPOSES, PLATFORMS } from '../repositories/types.js';
import { channels } from './channels.js';
import { idColumn, instant, oneOf, refColumn } from './columns.js';
import { users } from './users.js';

export const webhookSources = pgTable(
  'webhook_sources',
  {
    /** Our source id; the public part of the source's URL token. */
    id: idColumn(),
    /** The user the source acts as: its alerts trade this user's accounts, or broadcast as them. */
    ownerUserId: refColumn('owner_user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** Owner-chosen name shown on the dashboard and in reports. */
    label: text('label').notNull(),
    /** SHA-256 (hex) of the secret part of the URL token. The token itself is shown once and never stored. */
    tokenHash: text('token_hash').notNull(),
    /**
     * A signal channel: alerts broadcast to its subscribers, with the owner as provider. Null: alerts
     * trade the owner's own accounts. A deleted channel deletes its sources rather than silently turning
     * them into sources that trade the owner's accounts.
     */
    channelId: refColumn('channel_id').references(() => channels.id, { onDelete: 'cascade' }),
    /** Where outcomes are posted; null: the signal channel's report channel, else the owner privately. */
    reportChannelId: refColumn('report_channel_id').references((): AnyPgColumn => channels.id, {
      onDelete: 'set null',
    }),
    /** Addresses or CIDR ranges (IPv4 or IPv6) allowed to post; empty allows any address. */
    allowedIps: jsonb('allowed_ips').$type<string[]>().notNull().default([]),
    /** Disabled sources answer 401 like unknown ones. */
    enabled: boolean('enabled').notNull().default(true),
    /** When the source was created (UTC). */
    createdAt: instant('created_at').notNull().defaultNow(),
    /** When an alert last passed the token check (UTC); null before the first. */
    lastUsedAt: instant('last_used_at'),
  },
  (t) => [index('webhook_sources_owner_user_id_idx').on(t.ownerUserId)],
);

export const oneTimeTokens = pgTable(
  'one_time_tokens',
  {
    /** Our token id. */
    id: idColumn(),
    /** sign_in: a dashboard sign-in link; oauth_link: a /link URL; oauth_state: an OAuth `state`. */
    purpose: text('purpose', { enum: ONE_TIME_PURPOSES }).notNull(),
    /** SHA-256 (hex) of the token; the token itself only ever exists in the link or redirect. */
    tokenHash: text('token_hash').notNull(),
    /** The user the token signs in or links for. */
    userId: refColumn('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** The chat identity that asked for it (told the outcome); null when not asked from chat. */
    requestedByPlatform: text('requested_by_platform', { enum: PLATFORMS }),
    /** That identity's platform user id. */
    requestedByExternalId: text('requested_by_external_id'),
    /** For an OAuth state: the /link token it was started from, spent when linking completes. */
    parentId: refColumn('parent_id').references((): AnyPgColumn => oneTimeTokens.id, { onDelete: 'cascade' }),
    /** After this instant (UTC) the token is refused. */
    expiresAt: instant('expires_at').notNull(),
    /** When the token was spent (UTC); null while unused. A spent token is refused. */
    usedAt: instant('used_at'),
    /** When the token was issued (UTC). */
    createdAt: instant('created_at').notNull().defaultNow(),
  },
  (t) => [
    unique('one_time_tokens_token_hash_unique').on(t.tokenHash),
    index('one_time_tokens_expires_at_idx').on(t.expiresAt),
    check('one_time_tokens_purpose_check', oneOf(t.purpose, ONE_TIME_PURPOSES)),
    check('one_time_tokens_requested_by_platform_check', oneOf(t.requestedByPlatform, PLATFORMS)),
  ],
);
