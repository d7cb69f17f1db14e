import { and, eq, gt, isNull, lt } from 'drizzle-orm';
import type { Platform } from '../../domain/types.js';
import type { Db } from '../client.js';
import { oneTimeTokens } from '../schema/index.js';
import { idString, nullableIdString, parseId, requireId } from './ids.js';
import type { OneTimePurpose, OneTimeToken } from './types.js';

type TokenRow = typeof oneTimeTokens.$inferSelect;

const toToken = (row: TokenRow): OneTimeToken => ({
  id: idString(row.id),
  purpose: row.purpose,
  userId: idString(row.userId),
  requestedBy:
    row.requestedByPlatform !== null && row.requestedByExternalId !== null
      ? { platform: row.requestedByPlatform, externalId: row.requestedByExternalId }
      : null,
  parentId: nullableIdString(row.parentId),
  expiresAt: row.expiresAt,
  usedAt: row.usedAt,
  createdAt: row.createdAt,
});

export interface NewOneTimeToken {
  readonly purpose: OneTimePurpose;
  /** SHA-256 (hex) of the token; the caller makes the token and hands it out. */
  readonly tokenHash: string;
  readonly userId: string;
  readonly expiresAt: Date;
  readonly requestedBy?: { readonly platform: Platform; readonly externalId: string } | null;
  readonly parentId?: string | null;
}

/**
 * Short-lived, single-use tokens: dashboard sign-in links, `/link` URLs and OAuth states. Only hashes
 * are stored. Spending a token is one conditional UPDATE, so two concurrent uses cannot both win.
 */
export class OneTimeTokensRepository {
  readonly #db: Db;

  constructor({ db }: { db: Db }) {
    this.#db = db;
  }

  /** Stores a new unused token. */
  async issue(input: NewOneTimeToken): Promise<OneTimeToken> {
    const [row] = await this.#db
      .insert(oneTimeTokens)
      .values({
        purpose: input.purpose,
        tokenHash: input.tokenHash,
        userId: requireId(input.userId, 'user'),
        requestedByPlatform: input.requestedBy?.platform ?? null,
        requestedByExternalId: input.requestedBy?.externalId ?? null,
        parentId: input.parentId ? requireId(input.parentId, 'one-time token') : null,
        expiresAt: input.expiresAt,
      })
      .returning();
    if (!row) throw new Error('INSERT … RETURNING returned no row');
    return toToken(row);
  }

  /** The unused, unexpired token of this purpose with this hash, without spending it; null otherwise. */
  async find(purpose: OneTimePurpose, tokenHash: string, now: Date): Promise<OneTimeToken | null> {
    const [row] = await this.#db
      .select()
      .from(oneTimeTokens)
      .where(
        and(
          eq(oneTimeTokens.tokenHash, tokenHash),
          eq(oneTimeTokens.purpose, purpose),
          isNull(oneTimeTokens.usedAt),
          gt(oneTimeTokens.expiresAt, now),
        ),
      );
    return row ? toToken(row) : null;
  }

  /**
   * Spends the token of this purpose with this hash and returns it; null when there is none, or it is
   * spent or expired. Exactly one of several concurrent calls gets the token.
   */
  async consume(purpose: OneTimePurpose, tokenHash: string, now: Date): Promise<OneTimeToken | null> {
    const [row] = await this.#db
      .update(oneTimeTokens)
      .set({ usedAt: now })
      .where(
        and(
          eq(oneTimeTokens.tokenHash, tokenHash),
          eq(oneTimeTokens.purpose, purpose),
          isNull(oneTimeTokens.usedAt),
          gt(oneTimeTokens.expiresAt, now),
        ),
      )
      .returning();
    return row ? toToken(row) : null;
  }

  /**
   * Spends a token by id whatever its expiry: an OAuth state's parent link, whose validity was checked
   * when the state was issued (the person may take longer at Tradovate than the link lives). False when
   * it is already spent or missing.
   */
  async consumeById(id: string, now: Date): Promise<boolean> {
    const key = parseId(id);
    if (key === null) return false;
    const rows = await this.#db
      .update(oneTimeTokens)
      .set({ usedAt: now })
      .where(and(eq(oneTimeTokens.id, key), isNull(oneTimeTokens.usedAt)))
      .returning({ id: oneTimeTokens.id });
    return rows.length > 0;
  }

  /** Deletes tokens that expired before `before`; returns how many. */
  async purgeExpired(before: Date): Promise<number> {
    const rows = await this.#db
      .delete(oneTimeTokens)
      .where(lt(oneTimeTokens.expiresAt, before))
      .returning({ id: oneTimeTokens.id });
    return rows.length;
  }
}
