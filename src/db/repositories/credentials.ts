import { and, asc, eq, lte, sql } from 'drizzle-orm';
import type { BrokerName, CredentialState } from '../../domain/types.js';
import type { Db } from '../client.js';
import type { SecretBox } from '../crypto.js';
import { credentials } from '../schema/index.js';
import { idString, parseId, requireId } from './ids.js';
import type { BrokerEnvironment, Credential, CredentialKind, TokenSource } from './types.js';

type CredentialRow = typeof credentials.$inferSelect;

/** Every column except the ciphertext, which only {@link CredentialsRepository.readSecret} selects. */
const publicColumns = {
  id: credentials.id,
  ownerUserId: credentials.ownerUserId,
  broker: credentials.broker,
  environment: credentials.environment,
  kind: credentials.kind,
  label: credentials.label,
  tokenExpiresAt: credentials.tokenExpiresAt,
  tokenSource: credentials.tokenSource,
  state: credentials.state,
  stateReason: credentials.stateReason,
  lockedAt: credentials.lockedAt,
  brokerUserId: credentials.brokerUserId,
  nextRefreshAt: credentials.nextRefreshAt,
  apiKeySetAt: credentials.apiKeySetAt,
  createdAt: credentials.createdAt,
  updatedAt: credentials.updatedAt,
};

const toCredential = (row: Omit<CredentialRow, 'secretCiphertext'>): Credential => ({
  ...row,
  id: idString(row.id),
  ownerUserId: idString(row.ownerUserId),
});

export interface NewCredential {
  readonly ownerUserId: string;
  readonly broker: BrokerName;
  readonly environment: BrokerEnvironment;
  readonly kind: CredentialKind;
  readonly label: string;
  /** Passwords, API keys, tokens: sealed before it is stored. */
  readonly secret: Readonly<Record<string, unknown>>;
  readonly tokenExpiresAt?: Date | null;
  /** Where the token in `secret` came from (an OAuth link: `oauth`). */
  readonly tokenSource?: TokenSource | null;
  readonly brokerUserId?: string | null;
}

export interface SecretWriteOptions {
  /** Expiry of the token inside the secret; undefined keeps the stored value, null clears it. */
  readonly tokenExpiresAt?: Date | null;
  /** Where that token came from; undefined keeps the stored value. */
  readonly tokenSource?: TokenSource | null;
  /** The broker's user id, once the login revealed it; undefined keeps the stored value. */
  readonly brokerUserId?: string | null;
  /** When an API key was set (the dashboard's API key form); undefined keeps the stored value. */
  readonly apiKeySetAt?: Date | null;
}

/**
 * Broker logins. Secrets are sealed with the {@link SecretBox} on the way in and only leave through
 * {@link readSecret}; every other method returns the credential without them.
 */
export class CredentialsRepository {
  readonly #db: Db;
  readonly #box: SecretBox;

  constructor({ db, secretBox }: { db: Db; secretBox: SecretBox }) {
    this.#db = db;
    this.#box = secretBox;
  }

  /** Stores a new credential in state ok. */
  async create(input: NewCredential): Promise<Credential> {
    const [row] = await this.#db
      .insert(credentials)
      .values({
        ownerUserId: requireId(input.ownerUserId, 'user'),
        broker: input.broker,
        environment: input.environment,
        kind: input.kind,
        label: input.label,
        secretCiphertext: this.#box.seal(JSON.stringify(input.secret)),
        tokenExpiresAt: input.tokenExpiresAt ?? null,
        tokenSource: input.tokenSource ?? null,
        brokerUserId: input.brokerUserId ?? null,
      })
      .returning(publicColumns);
    if (!row) throw new Error('INSERT … RETURNING returned no row');
    return toCredential(row);
  }

  /** A credential by id, without its secret; null when there is none. */
  async get(id: string): Promise<Credential | null> {
    const key = parseId(id);
    if (key === null) return null;
    const [row] = await this.#db.select(publicColumns).from(credentials).where(eq(credentials.id, key));
    return row ? toCredential(row) : null;
  }

  /** Credentials, all or one owner's, oldest first. */
  async list(filter: { ownerUserId?: string } = {}): Promise<Credential[]> {
    const owner = filter.ownerUserId === undefined ? undefined : parseId(filter.ownerUserId);
    if (owner === null) return [];
    const rows = await this.#db
      .select(publicColumns)
      .from(credentials)
      .where(owner === undefined ? undefined : eq(credentials.ownerUserId, owner))
      .orderBy(asc(credentials.id));
    return rows.map(toCredential);
  }

  /** The decrypted secret; null when the credential does not exist. Never log the result. */
  async readSecret(id: string): Promise<Record<string, unknown> | null> {
    const key = parseId(id);
    if (key === null) return null;
    const [row] = await this.#db
      .select({ sealed: credentials.secretCiphertext })
      .from(credentials)
      .where(eq(credentials.id, key));
    if (!row) return null;
    return JSON.parse(this.#box.open(row.sealed)) as Record<string, unknown>;
  }

  /** Replaces the secret (e.g. after a token renewal); returns false when the credential does not exist. */
  async writeSecret(
    id: string,
    secret: Readonly<Record<string, unknown>>,
    options: SecretWriteOptions = {},
  ): Promise<boolean> {
    const key = parseId(id);
    if (key === null) return false;
    const rows = await this.#db
      .update(credentials)
      .set(this.#secretUpdate(secret, options))
      .where(eq(credentials.id, key))
      .returning({ id: credentials.id });
    return rows.length > 0;
  }

  /**
   * Merges `patch` into the stored secret (fields in `patch` replace stored ones; the rest stay), in
   * one transaction that locks the row, so two merges never lose each other's fields. Returns false
   * when the credential does not exist.
   */
  async mergeSecret(
    id: string,
    patch: Readonly<Record<string, unknown>>,
    options: SecretWriteOptions = {},
  ): Promise<boolean> {
    const key = parseId(id);
    if (key === null) return false;
    return this.#db.transaction(async (tx) => {
      const [row] = await tx
        .select({ sealed: credentials.secretCiphertext })
        .from(credentials)
        .where(eq(credentials.id, key))
        .for('update');
      if (!row) return false;
      const stored = JSON.parse(this.#box.open(row.sealed)) as Record<string, unknown>;
      await tx
        .update(credentials)
        .set(this.#secretUpdate({ ...stored, ...patch }, options))
        .where(eq(credentials.id, key));
      return true;
    });
  }

  /**
   * Deletes a credential and, through the foreign key, its accounts. Meant for a credential that never
   * traded (an OAuth link that turned out to re-link an existing one); accounts with journal entries
   * make it fail, because the journal must keep them.
   */
  async delete(id: string): Promise<boolean> {
    const key = parseId(id);
    if (key === null) return false;
    const rows = await this.#db
      .delete(credentials)
      .where(eq(credentials.id, key))
      .returning({ id: credentials.id });
    return rows.length > 0;
  }

  #secretUpdate(secret: Readonly<Record<string, unknown>>, options: SecretWriteOptions) {
    return {
      secretCiphertext: this.#box.seal(JSON.stringify(secret)),
      ...(options.tokenExpiresAt !== undefined ? { tokenExpiresAt: options.tokenExpiresAt } : {}),
      ...(options.tokenSource !== undefined ? { tokenSource: options.tokenSource } : {}),
      ...(options.brokerUserId !== undefined ? { brokerUserId: options.brokerUserId } : {}),
      ...(options.apiKeySetAt !== undefined ? { apiKeySetAt: options.apiKeySetAt } : {}),
      updatedAt: sql`now()`,
    };
  }

  /**
   * Moves the credential to `state`. `lockedAt` is set when it becomes locked and cleared otherwise;
   * the reason is cleared when the state is ok. Returns the updated credential, or null when missing.
   */
  async setState(
    id: string,
    state: CredentialState,
    reason: string | null = null,
  ): Promise<Credential | null> {
    const key = parseId(id);
    if (key === null) return null;
    const [row] = await this.#db
      .update(credentials)
      .set({
        state,
        stateReason: state === 'ok' ? null : reason,
        // Keep the first lock time when locking an already locked credential again.
        lockedAt: state === 'locked' ? sql`coalesce(${credentials.lockedAt}, now())` : null,
        updatedAt: sql`now()`,
      })
      .where(eq(credentials.id, key))
      .returning(publicColumns);
    return row ? toCredential(row) : null;
  }

  /** Schedules (or, with null, unschedules) the next token refresh. Returns false when missing. */
  async setNextRefresh(id: string, at: Date | null): Promise<boolean> {
    const key = parseId(id);
    if (key === null) return false;
    const rows = await this.#db
      .update(credentials)
      .set({ nextRefreshAt: at, updatedAt: sql`now()` })
      .where(eq(credentials.id, key))
      .returning({ id: credentials.id });
    return rows.length > 0;
  }

  /**
   * Credentials in state ok whose refresh is due at or before `before`, most overdue first. Locked
   * and needs-reauth credentials are left out: nothing may retry into a penalty or a dead login.
   */
  async listDueForRefresh(before: Date, limit: number): Promise<Credential[]> {
    const rows = await this.#db
      .select(publicColumns)
      .from(credentials)
      .where(and(eq(credentials.state, 'ok'), lte(credentials.nextRefreshAt, before)))
      .orderBy(asc(credentials.nextRefreshAt), asc(credentials.id))
      .limit(limit);
    return rows.map(toCredential);
  }
}
