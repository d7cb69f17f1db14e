/** Broker credentials (one per broker login) and the accounts each one trades. */
import { sql } from 'drizzle-orm';
import {
  boolean,
  check,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  unique,
} from 'drizzle-orm/pg-core';
import type { TradingWindow } from '../../domain/types.js';
import {
  BRACKET_POLICIES,
  BROKER_ENVIRONMENTS,
  BROKERS,
  CREDENTIAL_KINDS,
  CREDENTIAL_STATES,
  TOKEN_SOURCES,
  UNMANAGED_POLICIES,
} from '../repositories/types.js';
import { idColumn, instant, oneOf, refColumn } from './columns.js';
import { users } from './users.js';

export const credentials = pgTable(
  'credentials',
  {
    /** Our credential id; one credential is one broker user and one rate-limit lane. */
    id: idColumn(),
    /** The user who added the credential and owns its accounts. */
    ownerUserId: refColumn('owner_user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'restrict' }),
    /** paper or tradovate. */
    broker: text('broker', { enum: BROKERS }).notNull(),
    /** The broker environment: demo, live, or paper for the in-process exchange. */
    environment: text('environment', { enum: BROKER_ENVIRONMENTS }).notNull(),
    /** How we authenticate: oauth (authorization code) or api_key (API-access login). */
    kind: text('kind', { enum: CREDENTIAL_KINDS }).notNull(),
    /** Owner-chosen name shown in replies. */
    label: text('label').notNull(),
    /**
     * The secret JSON (passwords, API keys, tokens), sealed with AES-256-GCM as
     * `v1:<iv b64>:<tag b64>:<ciphertext b64>`. Never plaintext.
     */
    secretCiphertext: text('secret_ciphertext').notNull(),
    /** When the stored access token expires (UTC); null when no token is stored. */
    tokenExpiresAt: instant('token_expires_at'),
    /** Where the last token came from: cache, stored, renewed, login or oauth; null before the first. */
    tokenSource: text('token_source', { enum: TOKEN_SOURCES }),
    /** ok; needs_reauth (the owner must log in again); locked (captcha penalty: nothing may retry). */
    state: text('state', { enum: CREDENTIAL_STATES }).notNull().default('ok'),
    /** Why the state is not ok: a stable code, a colon, then text; null when ok. */
    stateReason: text('state_reason'),
    /** When the credential was locked (UTC); null unless the state is locked. */
    lockedAt: instant('locked_at'),
    /** The broker's user id for this login (Tradovate userId), once known. */
    brokerUserId: text('broker_user_id'),
    /** When the token refresh job should next renew the token (UTC, jittered); null when not scheduled. */
    nextRefreshAt: instant('next_refresh_at'),
    /**
     * When an API key (cid, secret, app id, device id) was last set from the dashboard (UTC); null when
     * never. The key itself lives only in the sealed secret.
     */
    apiKeySetAt: instant('api_key_set_at'),
    /** When the credential was added (UTC). */
    createdAt: instant('created_at').notNull().defaultNow(),
    /** When the row last changed (UTC). */
    updatedAt: instant('updated_at').notNull().defaultNow(),
  },
  (t) => [
    index('credentials_owner_user_id_idx').on(t.ownerUserId),
    index('credentials_next_refresh_at_idx').on(t.nextRefreshAt),
    check('credentials_broker_check', oneOf(t.broker, BROKERS)),
    check('credentials_environment_check', oneOf(t.environment, BROKER_ENVIRONMENTS)),
    check('credentials_kind_check', oneOf(t.kind, CREDENTIAL_KINDS)),
    check('credentials_state_check', oneOf(t.state, CREDENTIAL_STATES)),
    check('credentials_token_source_check', oneOf(t.tokenSource, TOKEN_SOURCES)),
  ],
);

export const accounts = pgTable(
  'accounts',
  {
    /** Our account id. */
    id: idColumn(),
    /** The credential (broker login) that trades this account. */
    credentialId: refColumn('credential_id')
      .notNull()
      .references(() => credentials.id, { onDelete: 'cascade' }),
    /** The user whose account this is (normally the credential's owner). */
    ownerUserId: refColumn('owner_user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'restrict' }),
    /** The broker's own account id (Tradovate account id, paper account id), as text. */
    brokerAccountId: text('broker_account_id').notNull(),
    /** The account name as the broker shows it; what users type to pick it. */
    name: text('name').notNull(),
    /** Disabled accounts take no new signals; exits the owner asks for still run. */
    enabled: boolean('enabled').notNull().default(true),
    /** Contracts per signal contract (e.g. 0.5, 1, 3); the result is rounded down, then capped. */
    multiplier: doublePrecision('multiplier').notNull().default(1),
    /** Cap on one order's size, in contracts; null for no cap. */
    maxQuantity: integer('max_quantity'),
    /** Cap on the absolute net position in one contract, in contracts; null for no cap. */
    maxPosition: integer('max_position'),
    /** Signal product root → this account's product root, e.g. {"NQ":"MNQ"}. */
    symbolMap: jsonb('symbol_map').$type<Record<string, string>>().notNull().default({}),
    /** Optional group name that signals can target (`group=apex`). */
    groupName: text('group_name'),
    /** Entries only inside this window ({timeZone, start "HH:MM", end "HH:MM"}); null for always. */
    tradingWindow: jsonb('trading_window').$type<TradingWindow>(),
    /** keep: entries may go without brackets; require: an entry without take-profit and stop is refused. */
    bracketPolicy: text('bracket_policy', { enum: BRACKET_POLICIES }).notNull().default('keep'),
    /** What reconciliation does with positions we did not open: report them, or flatten them. */
    unmanagedPolicy: text('unmanaged_policy', { enum: UNMANAGED_POLICIES }).notNull().default('report'),
    /** When the account was added (UTC). */
    createdAt: instant('created_at').notNull().defaultNow(),
  },
  (t) => [
    unique('accounts_credential_id_broker_account_id_unique').on(t.credentialId, t.brokerAccountId),
    index('accounts_owner_user_id_idx').on(t.ownerUserId),
    check('accounts_multiplier_check', sql`${t.multiplier} > 0`),
    check('accounts_max_quantity_check', sql`${t.maxQuantity} > 0`),
    check('accounts_max_position_check', sql`${t.maxPosition} > 0`),
    check('accounts_bracket_policy_check', oneOf(t.bracketPolicy, BRACKET_POLICIES)),
    check('accounts_unmanaged_policy_check', oneOf(t.unmanagedPolicy, UNMANAGED_POLICIES)),
  ],
);
