/**
 * Service-wide records: the audit trail, settings such as the global halt, cron slot claims and the
 * chat inbox.
 */
import { sql } from 'drizzle-orm';
import { bigint, index, jsonb, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';
import { idColumn, instant } from './columns.js';

export const auditEvents = pgTable(
  'audit_events',
  {
    /** Our event id; increases with time. */
    id: idColumn(),
    /** When it happened (UTC). */
    at: instant('at').notNull().defaultNow(),
    /** Who did it: `user:<id>`, `system`, or a job name. */
    actor: text('actor').notNull(),
    /** What was done, dotted (`credential.locked`, `role.granted`, `halt.set`). */
    action: text('action').notNull(),
    /** What it was done to (`account:12`, `credential:3`). */
    subject: text('subject').notNull(),
    /** Anything else worth keeping; never a secret. */
    details: jsonb('details').$type<Record<string, unknown>>().notNull().default({}),
  },
  (t) => [index('audit_events_at_idx').on(t.at)],
);

export const settings = pgTable('settings', {
  /** Setting name, e.g. `halt`. */
  key: text('key').primaryKey(),
  /** Its value, any JSON. */
  value: jsonb('value').$type<unknown>().notNull(),
  /** When it was last set (UTC). */
  updatedAt: instant('updated_at').notNull().defaultNow(),
});

export const cronRuns = pgTable('cron_runs', {
  /** One scheduled slot: job name plus the slot's time, so each slot runs on one instance only. */
  key: text('key').primaryKey(),
  /** When an instance claimed the slot (UTC). */
  claimedAt: instant('claimed_at').notNull().defaultNow(),
  /** Which instance claimed it (host name and process id). */
  instance: text('instance').notNull(),
});

/**
 * Chat updates taken before they are worked on, so a restart does not lose one that was already
 * acknowledged to the platform: rows without `handled_at` are run again at start.
 */
export const chatInbox = pgTable(
  'chat_inbox',
  {
    /** Whose updates: platform and bot (`telegram:<bot id>`), since update ids are unique per bot. */
    inbox: text('inbox').notNull(),
    /** The platform's id of the update, unique per bot. */
    updateId: bigint('update_id', { mode: 'number' }).notNull(),
    /** The update as delivered. */
    body: jsonb('body').$type<unknown>().notNull(),
    /** When it was taken (UTC). */
    receivedAt: instant('received_at').notNull().defaultNow(),
    /** When its work ended, whatever the outcome (UTC); null while pending. */
    handledAt: instant('handled_at'),
    /**
     * The bot's message answering it, once one was shown (a fan-out's progress): a run after a
     * restart edits that message instead of leaving it stale.
     */
    replyMessageId: bigint('reply_message_id', { mode: 'number' }),
  },
  (t) => [
    primaryKey({ columns: [t.inbox, t.updateId] }),
    index('chat_inbox_pending_idx').on(t.inbox, t.updateId).where(sql`${t.handledAt} is null`),
  ],
);
