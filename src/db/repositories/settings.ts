import { eq, sql } from 'drizzle-orm';
import type { Db } from '../client.js';
import { settings } from '../schema/index.js';

/** Service-wide settings as JSON values by key, e.g. the global halt flag. */
export class SettingsRepository {
  readonly #db: Db;

  constructor({ db }: { db: Db }) {
    this.#db = db;
  }

  /**
   * The value stored under `key`, or null when unset. The type argument is the caller's claim about
   * what was stored; nothing checks it, so validate values that people can edit.
   */
  async get<T>(key: string): Promise<T | null> {
    const [row] = await this.#db
      .select({ value: settings.value })
      .from(settings)
      .where(eq(settings.key, key));
    return row ? (row.value as T) : null;
  }

  /** Stores `value` (any JSON) under `key`, replacing what was there. */
  async set(key: string, value: unknown): Promise<void> {
    await this.#db
      .insert(settings)
      .values({ key, value })
      .onConflictDoUpdate({ target: settings.key, set: { value, updatedAt: sql`now()` } });
  }

  /** Removes `key`; false when it was unset. */
  async delete(key: string): Promise<boolean> {
    const rows = await this.#db
      .delete(settings)
      .where(eq(settings.key, key))
      .returning({ key: settings.key });
    return rows.length > 0;
  }
}
