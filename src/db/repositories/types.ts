/**
 * Records the repositories return, beside the domain types in `src/domain/`. Plain TypeScript:
 * nothing here depends on drizzle, so every layer may import these.
 */

import type { OrderLeg, OrderPlan, OrderState } from '../../domain/orders.js';
import type {
  Account,
  BrokerName,
  CredentialState,
  Platform,
  Principal,
  Role,
  Signal,
  SignalSource,
} from '../../domain/types.js';

export const PLATFORMS = ['discord', 'telegram', 'console', 'webhook'] as const satisfies readonly Platform[];
export const BROKERS = ['paper', 'tradovate'] as const satisfies readonly BrokerName[];
export const BROKER_ENVIRONMENTS = ['demo', 'live', 'paper'] as const;
export type BrokerEnvironment = (typeof BROKER_ENVIRONMENTS)[number];
export const CREDENTIAL_KINDS = ['oauth', 'api_key'] as const;
export type CredentialKind = (typeof CREDENTIAL_KINDS)[number];
export const CREDENTIAL_STATES = [
  'ok',
  'needs_reauth',
  'locked',
] as const satisfies readonly CredentialState[];
/** Where a token came from: the in-process cache, the stored token, a renewal, an API-access login, OAuth. */
export const TOKEN_SOURCES = ['cache', 'stored', 'renewed', 'login', 'oauth'] as const;
export type TokenSource = (typeof TOKEN_SOURCES)[number];
export const BRACKET_POLICIES = ['keep', 'require'] as const;
export type BracketPolicy = (typeof BRACKET_POLICIES)[number];
export const UNMANAGED_POLICIES = ['report', 'flatten'] as const;
export type UnmanagedPolicy = (typeof UNMANAGED_POLICIES)[number];
export const CHANNEL_ROLES = ['signal', 'report'] as const;
export type ChannelRole = (typeof CHANNEL_ROLES)[number];
export const SIGNAL_SOURCES = [
  'command',
  'channel',
  'alert',
  'webhook',
] as const satisfies readonly SignalSource[];
export const SIGNAL_STATUSES = ['received', 'executing', 'done', 'rejected', 'failed'] as const;
export type SignalStatus = (typeof SIGNAL_STATUSES)[number];
/** Statuses after which a signal is finished (its `finishedAt` is set). */
export const FINISHED_SIGNAL_STATUSES: ReadonlySet<SignalStatus> = new Set(['done', 'rejected', 'failed']);
/** sign_in: a dashboard sign-in link; oauth_link: the URL `/link` hands out; oauth_state: an OAuth `state`. */
export const ONE_TIME_PURPOSES = ['sign_in', 'oauth_link', 'oauth_state'] as const;
export type OneTimePurpose = (typeof ONE_TIME_PURPOSES)[number];

export interface UserRecord {
  readonly id: string;
  readonly displayName: string;
  readonly roles: readonly Role[];
  readonly createdAt: Date;
}

export interface Identity {
  readonly platform: Platform;
  /** The platform's own user id. */
  readonly externalId: string;
  readonly userId: string;
  readonly linkedAt: Date;
}

/** A broker login as stored, without its secret. */
export interface Credential {
  readonly id: string;
  readonly ownerUserId: string;
  readonly broker: BrokerName;
  readonly environment: BrokerEnvironment;
  readonly kind: CredentialKind;
  readonly label: string;
  readonly tokenExpiresAt: Date | null;
  readonly tokenSource: TokenSource | null;
  readonly state: CredentialState;
  /** A stable code, a colon, then text; null when the state is ok. */
  readonly stateReason: string | null;
  readonly lockedAt: Date | null;
  readonly brokerUserId: string | null;
  readonly nextRefreshAt: Date | null;
  /** When an API key was last set from the dashboard; null when never. */
  readonly apiKeySetAt: Date | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** The engine's {@link Account} plus the per-account policies kept with it. */
export interface AccountRecord extends Account {
  /** keep: entries may go without brackets; require: an entry without both brackets is refused. */
  readonly bracketPolicy: BracketPolicy;
  /** What reconciliation does with a position we did not open. */
  readonly unmanagedPolicy: UnmanagedPolicy;
  readonly createdAt: Date;
}

/** An account that follows a channel, with where its outcomes are reported. */
export interface SubscribedAccount extends AccountRecord {
  readonly reportPrivate: boolean;
}

export interface Channel {
  readonly id: string;
  readonly platform: Platform;
  readonly chatId: string;
  readonly role: ChannelRole;
  readonly title: string | null;
  /** For a signal channel: the channel its reports go to; null to reply in place. */
  readonly reportChannelId: string | null;
  readonly createdAt: Date;
}

export interface Subscription {
  readonly accountId: string;
  readonly channelId: string;
  /** true: outcomes go to the account's owner privately instead of the report channel. */
  readonly reportPrivate: boolean;
  readonly channel: Channel;
}

export interface SignalRecord {
  readonly id: string;
  readonly dedupKey: string;
  readonly source: SignalSource;
  readonly principal: Principal;
  readonly body: Signal;
  readonly status: SignalStatus;
  readonly summary: Readonly<Record<string, unknown>> | null;
  /** The summary without its per-account outcomes; null while the summary is. */
  readonly totals: Readonly<Record<string, unknown>> | null;
  readonly createdAt: Date;
  readonly finishedAt: Date | null;
}

/** A journal entry to write; its id and timestamps are assigned by the database. */
export interface NewJournalEntry {
  readonly signalId: string;
  readonly accountId: string;
  readonly clientOrderId: string;
  readonly leg: OrderLeg;
  readonly seq: number;
  readonly state: OrderState;
  readonly plan: OrderPlan;
  readonly brokerOrderIds?: readonly string[];
  readonly reason?: string | null;
}

/** A state change for one journal entry. Omitted fields keep their stored value. */
export interface JournalUpdate {
  readonly id: string;
  readonly state: OrderState;
  readonly brokerOrderIds?: readonly string[];
  /** A stable code, a colon, then text; null clears it. */
  readonly reason?: string | null;
}

export interface AuditEvent {
  readonly id: string;
  readonly at: Date;
  /** `user:<id>`, `system`, or a job name. */
  readonly actor: string;
  /** Dotted verb, e.g. `credential.locked`. */
  readonly action: string;
  /** What it was done to, e.g. `account:12`. */
  readonly subject: string;
  readonly details: Readonly<Record<string, unknown>>;
}

/** A TradingView (or any HTTP) alert source: who its alerts act as, and where they go. */
export interface WebhookSource {
  readonly id: string;
  readonly ownerUserId: string;
  readonly label: string;
  /** SHA-256 (hex) of the secret part of the URL token. */
  readonly tokenHash: string;
  /** A signal channel to broadcast to; null: the owner's own accounts. */
  readonly channelId: string | null;
  readonly reportChannelId: string | null;
  /** Addresses or CIDR ranges allowed to post; empty allows any. */
  readonly allowedIps: readonly string[];
  readonly enabled: boolean;
  readonly createdAt: Date;
  readonly lastUsedAt: Date | null;
}

/** A one-time token as stored (its hash only). */
export interface OneTimeToken {
  readonly id: string;
  readonly purpose: OneTimePurpose;
  readonly userId: string;
  /** The chat identity that asked for it; null when not asked from chat. */
  readonly requestedBy: { readonly platform: Platform; readonly externalId: string } | null;
  readonly parentId: string | null;
  readonly expiresAt: Date;
  readonly usedAt: Date | null;
  readonly createdAt: Date;
}
