import { asc, eq } from 'drizzle-orm';
import type { Db } from '../client.js';
import { webhookSources } from '../schema/index.js';
import { idString, nullableIdString, parseId, requireId } from './ids.js';
import type { WebhookSource } from './types.js';

type SourceRow = typeof webhookSources.$inferSelect;

const toSource = (row: SourceRow): WebhookSource => ({
  id: idString(row.id),
  ownerUserId: idString(row.ownerUserId),
  label: row.label,
  tokenHash: row.tokenHash,
  channelId: nullableIdString(row.channelId),
  reportChannelId: nullableIdString(row.reportChannelId),
  allowedIps: row.allowedIps,
  enabled: row.enabled,
  createdAt: row.createdAt,
  lastUsedAt: row.lastUsedAt,
});

export interface NewWebhookSource {
  readonly ownerUserId: string;
  readonly label: string;
  /** SHA-256 (hex) of the token's secret part; the caller makes the token and shows it once. */
  readonly tokenHash: string;
  readonly channelId?: string | null;
  readonly reportChannelId?: string | null;
  readonly allowedIps?: readonly string[];
}

/** Alert sources of the TradingView webhook. Tokens are stored as hashes only. */
export class WebhookSourcesRepository {
  readonly #db: Db;

  constructor({ db }: { db: Db }) {
    this.#db = db;
  }

  /** Adds an enabled source. */
  async create(input: NewWebhookSource): Promise<WebhookSource> {
    const [row] = await this.#db
      .insert(webhookSources)
      .values({
        ownerUserId: requireId(input.ownerUserId, 'user'),
        label: input.label,
        tokenHash: input.tokenHash,
        channelId: input.channelId ? requireId(input.channelId, 'channel') : null,
        reportChannelId: input.reportChannelId ? requireId(input.reportChannelId, 'channel') : null,
        allowedIps: [...(input.allowedIps ?? [])],
      })
      .returning();
    if (!row) throw new Error('INSERT … RETURNING returned no row');
    return toSource(row);
  }

  /** A source by id; null when there is none (or the id is malformed). */
  async get(id: string): Promise<WebhookSource | null> {
    const key = parseId(id);
    if (key === null) return null;
    const [row] = await this.#db.select().from(webhookSources).where(eq(webhookSources.id, key));
    return row ? toSource(row) : null;
  }

  /** Sources, all or one owner's, oldest first. */
  async list(filter: { ownerUserId?: string } = {}): Promise<WebhookSource[]> {
    const owner = filter.ownerUserId === undefined ? undefined : parseId(filter.ownerUserId);
    if (owner === null) return [];
    const rows = await this.#db
      .select()
      .from(webhookSources)
      .where(owner === undefined ? undefined : eq(webhookSources.ownerUserId, owner))
      .orderBy(asc(webhookSources.id));
    return rows.map(toSource);
  }

  /** Records that an alert passed the token check. */
  async touch(id: string, at: Date): Promise<void> {
    const key = parseId(id);
    if (key === null) return;
    await this.#db.update(webhookSources).set({ lastUsedAt: at }).where(eq(webhookSources.id, key));
  }

  /** Enables or disables a source; false when there is none. */
  async setEnabled(id: string, enabled: boolean): Promise<boolean> {
    const key = parseId(id);
    if (key === null) return false;
    const rows = await this.#db
      .update(webhookSources)
      .set({ enabled })
      .where(eq(webhookSources.id, key))
      .returning({ id: webhookSources.id });
    return rows.length > 0;
  }

  /** Deletes a source; false when there is none. */
  async delete(id: string): Promise<boolean> {
    const key = parseId(id);
    if (key === null) return false;
    const rows = await this.#db
      .delete(webhookSources)
      .where(eq(webhookSources.id, key))
      .returning({ id: webhookSources.id });
    return rows.length > 0;
  }
}
