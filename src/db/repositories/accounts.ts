import { and, asc, count, eq, getTableColumns, type SQL, sql } from 'drizzle-orm';
import type { TradingWindow } from '../../domain/types.js';
import type { Db } from '../client.js';
import { accounts, credentials, subscriptions } from '../schema/index.js';
import { idString, parseId, requireId } from './ids.js';
import type { AccountRecord, BracketPolicy, SubscribedAccount, UnmanagedPolicy } from './types.js';

/** An account row joined with its credential's broker: every read selects exactly this. */
const accountColumns = { ...getTableColumns(accounts), broker: credentials.broker };

type AccountRow = typeof accounts.$inferSelect & { broker: AccountRecord['broker'] };

const toAccount = (row: AccountRow): AccountRecord => ({
  id: idString(row.id),
  credentialId: idString(row.credentialId),
  ownerUserId: idString(row.ownerUserId),
  brokerAccountId: row.brokerAccountId,
  name: row.name,
  broker: row.broker,
  enabled: row.enabled,
  multiplier: row.multiplier,
  maxQuantity: row.maxQuantity,
  maxPosition: row.maxPosition,
  symbolMap: row.symbolMap,
  group: row.groupName,
  tradingWindow: row.tradingWindow,
  bracketPolicy: row.bracketPolicy,
  unmanagedPolicy: row.unmanagedPolicy,
  createdAt: row.createdAt,
});

export interface NewAccount {
  readonly credentialId: string;
  /** Defaults to the credential's owner. */
  readonly ownerUserId?: string;
  readonly brokerAccountId: string;
  readonly name: string;
  readonly enabled?: boolean;
  readonly multiplier?: number;
  readonly maxQuantity?: number | null;
  readonly maxPosition?: number | null;
  readonly symbolMap?: Readonly<Record<string, string>>;
  readonly group?: string | null;
  readonly tradingWindow?: TradingWindow | null;
  readonly bracketPolicy?: BracketPolicy;
  readonly unmanagedPolicy?: UnmanagedPolicy;
}

/** Fields an owner or admin may change. Omitted fields keep their value; null clears a nullable one. */
export interface AccountPatch {
  readonly enabled?: boolean;
  readonly multiplier?: number;
  readonly maxQuantity?: number | null;
  readonly maxPosition?: number | null;
  readonly symbolMap?: Readonly<Record<string, string>>;
  readonly group?: string | null;
  readonly tradingWindow?: TradingWindow | null;
  readonly bracketPolicy?: BracketPolicy;
  readonly unmanagedPolicy?: UnmanagedPolicy;
}

export interface ListOptions {
  /** Only accounts that take signals. */
  readonly enabledOnly?: boolean;
}

/**
 * Broker accounts. Every list is one joined query whatever its size: fan-outs read thousands of
 * accounts at once.
 */
export class AccountsRepository {
  readonly #db: Db;

  constructor({ db }: { db: Db }) {
    this.#db = db;
  }

  /**
   * Adds an account, or, when the credential already has one with this broker account id, refreshes
   * its name and keeps every setting. Syncing a credential's accounts from the broker can therefore
   * run any number of times.
   *
   * @throws when the credential does not exist (a caller bug: credentials come from our records).
   */
  async create(input: NewAccount): Promise<AccountRecord> {
    const credentialId = requireId(input.credentialId, 'credential');
    const [credential] = await this.#db
      .select({ ownerUserId: credentials.ownerUserId })
      .from(credentials)
      .where(eq(credentials.id, credentialId));
    if (!credential) throw new Error(`Credential ${input.credentialId} does not exist`);
    const [row] = await this.#db
      .insert(accounts)
      .values({
        credentialId,
        ownerUserId: input.ownerUserId ? requireId(input.ownerUserId, 'user') : credential.ownerUserId,
        brokerAccountId: input.brokerAccountId,
        name: input.name,
        enabled: input.enabled,
        multiplier: input.multiplier,
        maxQuantity: input.maxQuantity,
        maxPosition: input.maxPosition,
        symbolMap: input.symbolMap ? { ...input.symbolMap } : undefined,
        groupName: input.group,
        tradingWindow: input.tradingWindow,
        bracketPolicy: input.bracketPolicy,
        unmanagedPolicy: input.unmanagedPolicy,
      })
      .onConflictDoUpdate({
        target: [accounts.credentialId, accounts.brokerAccountId],
        set: { name: sql`excluded.name` },
      })
      .returning({ id: accounts.id });
    if (!row) throw new Error('INSERT … RETURNING returned no row');
    return (await this.get(idString(row.id)))!;
  }

  /** An account by id; null when there is none. */
  async get(id: string): Promise<AccountRecord | null> {
    const key = parseId(id);
    if (key === null) return null;
    const [row] = await this.#select(eq(accounts.id, key));
    return row ?? null;
  }

  /** A user's own accounts, by id. */
  async listForUser(userId: string, options: ListOptions = {}): Promise<AccountRecord[]> {
    const key = parseId(userId);
    if (key === null) return [];
    return this.#select(eq(accounts.ownerUserId, key), options);
  }

  /** Every account, by id (admins' `all` target, reconciliation). */
  async listAll(options: ListOptions = {}): Promise<AccountRecord[]> {
    return this.#select(undefined, options);
  }

  /** The accounts one credential trades, by id. */
  async listByCredential(credentialId: string): Promise<AccountRecord[]> {
    const key = parseId(credentialId);
    if (key === null) return [];
    return this.#select(eq(accounts.credentialId, key));
  }

  /** The accounts that follow a signal channel, with where each reports, by id. */
  async listSubscribedTo(channelId: string, options: ListOptions = {}): Promise<SubscribedAccount[]> {
    const key = parseId(channelId);
    if (key === null) return [];
    const rows = await this.#db
      .select({ ...accountColumns, reportPrivate: subscriptions.reportPrivate })
      .from(subscriptions)
      .innerJoin(accounts, eq(accounts.id, subscriptions.accountId))
      .innerJoin(credentials, eq(credentials.id, accounts.credentialId))
      .where(
        and(eq(subscriptions.channelId, key), options.enabledOnly ? eq(accounts.enabled, true) : undefined),
      )
      .orderBy(asc(accounts.id));
    return rows.map((row) => ({ ...toAccount(row), reportPrivate: row.reportPrivate }));
  }

  /**
   * One of the user's accounts, picked by our id, the broker's account id, or its name (case
   * insensitive). Our id wins. Null when nothing matches, and also when the name or broker id matches
   * several accounts: guessing which account trades is worse than asking again.
   */
  async findForUser(userId: string, nameOrId: string): Promise<AccountRecord | null> {
    const owner = parseId(userId);
    const wanted = nameOrId.trim();
    if (owner === null || wanted === '') return null;
    const asId = parseId(wanted);
    const matches = await this.#select(
      and(
        eq(accounts.ownerUserId, owner),
        sql`(${asId === null ? sql`false` : sql`${accounts.id} = ${asId}`}
          or ${accounts.brokerAccountId} = ${wanted}
          or lower(${accounts.name}) = lower(${wanted}))`,
      ),
    );
    const byId = matches.find((a) => a.id === wanted);
    if (byId) return byId;
    return matches.length === 1 ? matches[0]! : null;
  }

  /** Changes an account's settings; returns the updated account, or null when there is none. */
  async update(id: string, patch: AccountPatch): Promise<AccountRecord | null> {
    const key = parseId(id);
    if (key === null) return null;
    const set: Partial<typeof accounts.$inferInsert> = {};
    if (patch.enabled !== undefined) set.enabled = patch.enabled;
    if (patch.multiplier !== undefined) set.multiplier = patch.multiplier;
    if (patch.maxQuantity !== undefined) set.maxQuantity = patch.maxQuantity;
    if (patch.maxPosition !== undefined) set.maxPosition = patch.maxPosition;
    if (patch.symbolMap !== undefined) set.symbolMap = { ...patch.symbolMap };
    if (patch.group !== undefined) set.groupName = patch.group;
    if (patch.tradingWindow !== undefined) set.tradingWindow = patch.tradingWindow;
    if (patch.bracketPolicy !== undefined) set.bracketPolicy = patch.bracketPolicy;
    if (patch.unmanagedPolicy !== undefined) set.unmanagedPolicy = patch.unmanagedPolicy;
    if (Object.keys(set).length > 0) {
      const rows = await this.#db
        .update(accounts)
        .set(set)
        .where(eq(accounts.id, key))
        .returning({ id: accounts.id });
      if (rows.length === 0) return null;
    }
    return this.get(id);
  }

  /** How many accounts exist (optionally only enabled ones). */
  async count(options: ListOptions = {}): Promise<number> {
    const [row] = await this.#db
      .select({ n: count() })
      .from(accounts)
      .where(options.enabledOnly ? eq(accounts.enabled, true) : undefined);
    return row?.n ?? 0;
  }

  async #select(where: SQL | undefined, options: ListOptions = {}): Promise<AccountRecord[]> {
    const rows = await this.#db
      .select(accountColumns)
      .from(accounts)
      .innerJoin(credentials, eq(credentials.id, accounts.credentialId))
      .where(and(where, options.enabledOnly ? eq(accounts.enabled, true) : undefined))
      .orderBy(asc(accounts.id));
    return rows.map(toAccount);
  }
}
