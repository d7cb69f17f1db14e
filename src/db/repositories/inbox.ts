import { and, asc, eq, isNotNull, isNull, lt } from 'drizzle-orm';
import type { Db } from '../client.js';
import { chatInbox } from '../schema/index.js';

/** An update taken but not yet handled. */
export interface PendingUpdate {
  readonly updateId: number;
  readonly body: unknown;
  /** The bot's message answering it, when the stopped process had shown one. */
  readonly replyMessageId: number | null;
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

  /** Records an update taken at `receivedAt`; false when it was recorded before (a redelivery). */
  async record(inbox: string, updateId: number, body: unknown, receivedAt: Date): Promise<boolean> {
    const rows = await this.#db
      .insert(chatInbox)
      .values({ inbox, updateId, body, receivedAt })
      .onConflictDoNothing()
      .returning({ updateId: chatInbox.updateId });
    return rows.length > 0;
  }

  /** Marks an update's work as ended. */
  async handled(inbox: string, updateId: number): Promise<void> {
    await this.#db
      .update(chatInbox)
      .set({ handledAt: new Date() })
      .where(and(eq(chatInbox.inbox, inbox), eq(chatInbox.updateId, updateId)));
  }

  /** Notes the bot's message answering an update, so a run after a restart can edit it. */
  async replied(inbox: string, updateId: number, messageId: number): Promise<void> {
    await this.#db
      .update(chatInbox)
      .set({ replyMessageId: messageId })
      .where(and(eq(chatInbox.inbox, inbox), eq(chatInbox.updateId, updateId)));
  }

  /** Updates recorded but not handled, oldest first. */
  async pending(inbox: string): Promise<PendingUpdate[]> {
    return this.#db
      .select({
        updateId: chatInbox.updateId,
        body: chatInbox.body,
        replyMessageId: chatInbox.replyMessageId,
      })
      .from(chatInbox)
      .where(and(eq(chatInbox.inbox, inbox), isNull(chatInbox.handledAt)))
      .orderBy(asc(chatInbox.updateId));
  }

  /** Deletes one inbox's handled updates taken before `before`; returns how many. */
  async prune(inbox: string, before: Date): Promise<number> {
    const rows = await this.#db
      .delete(chatInbox)
      .where(
        and(eq(chatInbox.inbox, inbox), isNotNull(chatInbox.handledAt), lt(chatInbox.receivedAt, before)),
      )
      .returning({ updateId: chatInbox.updateId });
    return rows.length;
  }
}
