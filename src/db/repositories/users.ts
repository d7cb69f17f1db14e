import { and, count, eq } from 'drizzle-orm';
import type { Result } from '../../domain/result.js';
import { err, ok, type Problem } from '../../domain/result.js';
import type { Platform, Role } from '../../domain/types.js';
import type { Db } from '../client.js';
import { identities, userRoles, users } from '../schema/index.js';
import { idString, parseId, requireId } from './ids.js';
import type { Identity, UserRecord } from './types.js';

type IdentityRow = typeof identities.$inferSelect;

const toIdentity = (row: IdentityRow): Identity => ({
  platform: row.platform,
  externalId: row.externalId,
  userId: idString(row.userId),
  linkedAt: row.linkedAt,
});

/** Users, their roles, and the chat identities that act as them. */
export class UsersRepository {
  readonly #db: Db;

  constructor({ db }: { db: Db }) {
    this.#db = db;
  }

  /** The user a platform identity acts as, with its roles; null when the identity is not linked. */
  async findByIdentity(platform: Platform, externalId: string): Promise<UserRecord | null> {
    // One round trip: this runs for every chat command.
    const rows = await this.#db
      .select({ user: users, role: userRoles.role })
      .from(identities)
      .innerJoin(users, eq(users.id, identities.userId))
      .leftJoin(userRoles, eq(userRoles.userId, users.id))
      .where(and(eq(identities.platform, platform), eq(identities.externalId, externalId)));
    return foldUser(rows);
  }

  /** A user by id, with its roles; null when there is none. */
  async get(id: string): Promise<UserRecord | null> {
    const userId = parseId(id);
    if (userId === null) return null;
    const rows = await this.#db
      .select({ user: users, role: userRoles.role })
      .from(users)
      .leftJoin(userRoles, eq(userRoles.userId, users.id))
      .where(eq(users.id, userId));
    return foldUser(rows);
  }

  /** Creates a user with the given roles (none by default: deny by default). */
  async create(input: {
    displayName: string;
    roles?: readonly Role[];
    grantedBy?: string | null;
  }): Promise<UserRecord> {
    const roles = [...new Set(input.roles ?? [])];
    const grantedBy = input.grantedBy ? requireId(input.grantedBy, 'user') : null;
    return this.#db.transaction(async (tx) => {
      const [user] = await tx.insert(users).values({ displayName: input.displayName }).returning();
      if (!user) throw new Error('INSERT … RETURNING returned no row');
      if (roles.length > 0) {
        await tx.insert(userRoles).values(roles.map((role) => ({ userId: user.id, role, grantedBy })));
      }
      return { id: idString(user.id), displayName: user.displayName, roles, createdAt: user.createdAt };
    });
  }

  /**
   * Links a platform identity to a user. Linking an identity again to the same user is a no-op;
   * an identity already linked to someone else is refused with `identity_taken`.
   */
  async linkIdentity(
    userId: string,
    platform: Platform,
    externalId: string,
  ): Promise<Result<Identity, Problem>> {
    const id = requireId(userId, 'user');
    const [inserted] = await this.#db
      .insert(identities)
      .values({ platform, externalId, userId: id })
      .onConflictDoNothing({ target: [identities.platform, identities.externalId] })
      .returning();
    if (inserted) return ok(toIdentity(inserted));
    const [existing] = await this.#db
      .select()
      .from(identities)
      .where(and(eq(identities.platform, platform), eq(identities.externalId, externalId)));
    if (existing && existing.userId === id) return ok(toIdentity(existing));
    return err({
      code: 'identity_taken',
      message: `This ${platform} account is already linked to another user`,
    });
  }

  /** Unlinks a platform identity (a deleted webhook source's); false when it was not linked. */
  async unlinkIdentity(platform: Platform, externalId: string): Promise<boolean> {
    const rows = await this.#db
      .delete(identities)
      .where(and(eq(identities.platform, platform), eq(identities.externalId, externalId)))
      .returning({ userId: identities.userId });
    return rows.length > 0;
  }

  /**
   * The user behind a platform identity, created with `displayName` and linked when missing, and
   * holding at least `roles` (missing ones are granted, none are removed). Safe to run on every start,
   * e.g. to seed the configured admins, and safe when two instances run it at once.
   */
  async ensureIdentityUser(
    platform: Platform,
    externalId: string,
    displayName: string,
    roles: readonly Role[],
  ): Promise<UserRecord> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const existing = await this.findByIdentity(platform, externalId);
      if (existing) {
        const missing = roles.filter((role) => !existing.roles.includes(role));
        for (const role of missing) await this.grantRole(existing.id, role, null);
        return missing.length === 0 ? existing : (await this.get(existing.id))!;
      }
      const created = await this.#createLinked(platform, externalId, displayName, roles);
      if (created) return created;
      // Another instance linked the identity between our read and our insert: read theirs.
    }
    throw new Error(`Could not create or find the user for ${platform}:${externalId}`);
  }

  async #createLinked(
    platform: Platform,
    externalId: string,
    displayName: string,
    roles: readonly Role[],
  ): Promise<UserRecord | null> {
    const uniqueRoles = [...new Set(roles)];
    const lost = Symbol('identity taken');
    try {
      return await this.#db.transaction(async (tx) => {
        const [user] = await tx.insert(users).values({ displayName }).returning();
        if (!user) throw new Error('INSERT … RETURNING returned no row');
        const linked = await tx
          .insert(identities)
          .values({ platform, externalId, userId: user.id })
          .onConflictDoNothing({ target: [identities.platform, identities.externalId] })
          .returning();
        // Throwing rolls back the user row we just made.
        if (linked.length === 0) throw lost;
        if (uniqueRoles.length > 0) {
          await tx
            .insert(userRoles)
            .values(uniqueRoles.map((role) => ({ userId: user.id, role, grantedBy: null })));
        }
        return { id: idString(user.id), displayName, roles: uniqueRoles, createdAt: user.createdAt };
      });
    } catch (error) {
      if (error === lost) return null;
      throw error;
    }
  }

  /** Grants a role; returns false when the user already held it. `grantedBy` null means configuration. */
  async grantRole(userId: string, role: Role, grantedBy: string | null): Promise<boolean> {
    const rows = await this.#db
      .insert(userRoles)
      .values({
        userId: requireId(userId, 'user'),
        role,
        grantedBy: grantedBy === null ? null : requireId(grantedBy, 'user'),
      })
      .onConflictDoNothing()
      .returning({ role: userRoles.role });
    return rows.length > 0;
  }

  /** Revokes a role; returns false when the user did not hold it. */
  async revokeRole(userId: string, role: Role): Promise<boolean> {
    const rows = await this.#db
      .delete(userRoles)
      .where(and(eq(userRoles.userId, requireId(userId, 'user')), eq(userRoles.role, role)))
      .returning({ role: userRoles.role });
    return rows.length > 0;
  }

  /** Every identity linked to a user, oldest first. */
  async listIdentities(userId: string): Promise<Identity[]> {
    const id = parseId(userId);
    if (id === null) return [];
    const rows = await this.#db
      .select()
      .from(identities)
      .where(eq(identities.userId, id))
      .orderBy(identities.linkedAt, identities.platform);
    return rows.map(toIdentity);
  }

  /** How many users exist. */
  async count(): Promise<number> {
    const [row] = await this.#db.select({ n: count() }).from(users);
    return row?.n ?? 0;
  }
}

/** Folds a user joined with its role rows (one row per role, or one row with a null role). */
function foldUser(
  rows: ReadonlyArray<{ user: typeof users.$inferSelect; role: Role | null }>,
): UserRecord | null {
  const first = rows[0];
  if (!first) return null;
  const roles = rows.flatMap((r) => (r.role === null ? [] : [r.role])).sort();
  return {
    id: idString(first.user.id),
    displayName: first.user.displayName,
    roles,
    createdAt: first.user.createdAt,
  };
}
