import { lt } from 'drizzle-orm';
import type { Db } from '../client.js';
import { cronRuns } from '../schema/index.js';

/**
 * Claims of scheduled slots, so that with several instances each slot of a cron job runs once: the
 * first instance to insert the slot's key runs it.
 */
export class CronRunsRepository {
  readonly #db: Db;

  constructor({ db }: { db: Db }) {
    this.#db = db;
  }

  /** Claims `key` (job name plus slot time) for `instance`; true only for the first claimant. */
  async claim(key: string, instance: string): Promise<boolean> {
    const rows = await this.#db
      .insert(cronRuns)
      .values({ key, instance })
      .onConflictDoNothing({ target: cronRuns.key })
      .returning({ key: cronRuns.key });
    return rows.length > 0;
  }

  /** Deletes claims made before `before`; returns how many. */
  async prune(before: Date): Promise<number> {
    const rows = await this.#db
      .delete(cronRuns)
      .where(lt(cronRuns.claimedAt, before))
      .returning({ key: cronRuns.key });
    return rows.length;
  }
}
