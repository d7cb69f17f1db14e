import { and, asc, eq, isNotNull, isNull, lt } from 'drizzle-orm';
import type { Db } from '../client.js';
import { chatInbox } from '../schema/index.js';

/** An update taken but not yet handled. */
export interface PendingUpdate {
  readonly updateId: number;
  readonly body: unknown;
  readonly receivedAt: Date;
}

/**
 * Chat updates, written when they are taken and marked when their work ends. A platform that
 * redelivers until acknowledged (Telegram) is acknowledged only after the write, so an update is
 * either redelivered or here; rows left unhandled by a stopped process are run again at start.
 */
export class InboxRepository {
  readonly #db: Db;

  constructor({ db }: { db: Db }) {
    this.#db = db;
  }

  /** Records an update taken now (or at `receivedAt`); false when it was recorded before (a redelivery). */
  async record(platform: string, updateId: number, body: unknown, receivedAt?: Date): Promise<boolean> {
    const rows = await this.#db
      .insert(chatInbox)
      .values({ platform, updateId, body, ...(receivedAt ? { receivedAt } : {}) })
      .onConflictDoNothing()
      .returning({ updateId: chatInbox.updateId });
    return rows.length > 0;
  }

  /** Marks an update's work as ended. */
  async handled(platform: string, updateId: number): Promise<void> {
    await this.#db
      .update(chatInbox)
      .set({ handledAt: new Date() })
      .where(and(eq(chatInbox.platform, platform), eq(chatInbox.updateId, updateId)));
  }

  /** Updates recorded but not handled, oldest first. */
  async pending(platform: string): Promise<PendingUpdate[]> {
    return this.#db
      .select({ updateId: chatInbox.updateId, body: chatInbox.body, receivedAt: chatInbox.receivedAt })
      .from(chatInbox)
      .where(and(eq(chatInbox.platform, platform), isNull(chatInbox.handledAt)))
      .orderBy(asc(chatInbox.updateId));
  }

  /** Deletes handled updates taken before `before`; returns how many. */
  async prune(before: Date): Promise<number> {
    const rows = await this.#db
      .delete(chatInbox)
      .where(and(isNotNull(chatInbox.handledAt), lt(chatInbox.receivedAt, before)))
      .returning({ updateId: chatInbox.updateId });
    return rows.length;
  }
}
