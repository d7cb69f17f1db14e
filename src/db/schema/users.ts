/** People, what they may do, and the chat identities that act as them. */
import { check, index, pgTable, primaryKey, text, unique } from 'drizzle-orm/pg-core';
import { ROLES } from '../../domain/types.js';
import { PLATFORMS } from '../repositories/types.js';
import { idColumn, instant, oneOf, refColumn } from './columns.js';

export const users = pgTable('users', {
  /** Our user id. */
  id: idColumn(),
  /** Name shown in replies and the audit log; never used for authorization. */
  displayName: text('display_name').notNull(),
  /** When the user was created (UTC). */
  createdAt: instant('created_at').notNull().defaultNow(),
});

export const userRoles = pgTable(
  'user_roles',
  {
    /** The user holding the role. */
    userId: refColumn('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** One of admin, provider, trader, viewer. */
    role: text('role', { enum: ROLES }).notNull(),
    /** When the role was granted (UTC). */
    grantedAt: instant('granted_at').notNull().defaultNow(),
    /** The user who granted it; null when granted by configuration (seeded admins). */
    grantedBy: refColumn('granted_by').references(() => users.id, { onDelete: 'set null' }),
  },
  (t) => [primaryKey({ columns: [t.userId, t.role] }), check('user_roles_role_check', oneOf(t.role, ROLES))],
);

export const identities = pgTable(
  'identities',
  {
    /** Where the identity lives: discord, telegram, console or webhook. */
    platform: text('platform', { enum: PLATFORMS }).notNull(),
    /** The platform's own user id (Discord snowflake, Telegram user id), as text. */
    externalId: text('external_id').notNull(),
    /** The user this identity acts as. */
    userId: refColumn('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** When the identity was linked (UTC). */
    linkedAt: instant('linked_at').notNull().defaultNow(),
  },
  (t) => [
    unique('identities_platform_external_id_unique').on(t.platform, t.externalId),
    index('identities_user_id_idx').on(t.userId),
    check('identities_platform_check', oneOf(t.platform, PLATFORMS)),
  ],
);
