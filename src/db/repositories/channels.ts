import { and, asc, eq, sql } from 'drizzle-orm';
import type { Platform } from '../../domain/types.js';
import type { Db } from '../client.js';
import { channelProviders, channels, subscriptions } from '../schema/index.js';
import { idString, nullableIdString, parseId, requireId } from './ids.js';
import type { Channel, ChannelRole, Subscription } from './types.js';

type ChannelRow = typeof channels.$inferSelect;

const toChannel = (row: ChannelRow): Channel => ({
  id: idString(row.id),
  platform: row.platform,
  chatId: row.chatId,
  role: row.role,
  title: row.title,
  reportChannelId: nullableIdString(row.reportChannelId),
  createdAt: row.createdAt,
});

/** Signal and report channels, who may broadcast in them, and which accounts follow them. */
export class ChannelsRepository {
  readonly #db: Db;

  constructor({ db }: { db: Db }) {
    this.#db = db;
  }

  /**
   * Registers a chat in a role, or returns the existing registration (refreshing its title when a new
   * one is given). One statement, so concurrent registrations of the same chat agree.
   */
  async register(input: {
    platform: Platform;
    chatId: string;
    role: ChannelRole;
    title?: string | null;
  }): Promise<Channel> {
    const [row] = await this.#db
      .insert(channels)
      .values({
        platform: input.platform,
        chatId: input.chatId,
        role: input.role,
        title: input.title ?? null,
      })
      .onConflictDoUpdate({
        target: [channels.platform, channels.chatId, channels.role],
        set: { title: sql`coalesce(excluded.title, ${channels.title})` },
      })
      .returning();
    if (!row) throw new Error('INSERT … RETURNING returned no row');
    return toChannel(row);
  }

  /** The registration of a chat in a role; null when it is not registered. */
  async find(platform: Platform, chatId: string, role: ChannelRole): Promise<Channel | null> {
    const [row] = await this.#db
      .select()
      .from(channels)
      .where(and(eq(channels.platform, platform), eq(channels.chatId, chatId), eq(channels.role, role)));
    return row ? toChannel(row) : null;
  }

  /** Registered channels, all or those of one role, by id. */
  async list(filter: { role?: ChannelRole } = {}): Promise<Channel[]> {
    const rows = await this.#db
      .select()
      .from(channels)
      .where(filter.role === undefined ? undefined : eq(channels.role, filter.role))
      .orderBy(asc(channels.id));
    return rows.map(toChannel);
  }

  /** A channel by id; null when there is none. */
  async get(id: string): Promise<Channel | null> {
    const key = parseId(id);
    if (key === null) return null;
    const [row] = await this.#db.select().from(channels).where(eq(channels.id, key));
    return row ? toChannel(row) : null;
  }

  /** Sends a signal channel's reports to `reportChannelId` (null: reply in place). False when missing. */
  async setReportChannel(channelId: string, reportChannelId: string | null): Promise<boolean> {
    const key = parseId(channelId);
    if (key === null) return false;
    const rows = await this.#db
      .update(channels)
      .set({ reportChannelId: reportChannelId === null ? null : requireId(reportChannelId, 'channel') })
      .where(eq(channels.id, key))
      .returning({ id: channels.id });
    return rows.length > 0;
  }

  /** Allows a user to broadcast in a channel; false when already allowed. */
  async addProvider(channelId: string, userId: string): Promise<boolean> {
    const rows = await this.#db
      .insert(channelProviders)
      .values({ channelId: requireId(channelId, 'channel'), userId: requireId(userId, 'user') })
      .onConflictDoNothing()
      .returning({ userId: channelProviders.userId });
    return rows.length > 0;
  }

  /** Withdraws a user's right to broadcast in a channel; false when it was not granted. */
  async removeProvider(channelId: string, userId: string): Promise<boolean> {
    const channel = parseId(channelId);
    const user = parseId(userId);
    if (channel === null || user === null) return false;
    const rows = await this.#db
      .delete(channelProviders)
      .where(and(eq(channelProviders.channelId, channel), eq(channelProviders.userId, user)))
      .returning({ userId: channelProviders.userId });
    return rows.length > 0;
  }

  /** Whether a user may broadcast in a channel (the provider role is checked separately). */
  async isProvider(channelId: string, userId: string): Promise<boolean> {
    const channel = parseId(channelId);
    const user = parseId(userId);
    if (channel === null || user === null) return false;
    const rows = await this.#db
      .select({ userId: channelProviders.userId })
      .from(channelProviders)
      .where(and(eq(channelProviders.channelId, channel), eq(channelProviders.userId, user)))
      .limit(1);
    return rows.length > 0;
  }

  /** The user ids allowed to broadcast in a channel, ascending. */
  async providers(channelId: string): Promise<string[]> {
    const key = parseId(channelId);
    if (key === null) return [];
    const rows = await this.#db
      .select({ userId: channelProviders.userId })
      .from(channelProviders)
      .where(eq(channelProviders.channelId, key))
      .orderBy(asc(channelProviders.userId));
    return rows.map((r) => idString(r.userId));
  }

  /**
   * Makes an account follow a channel. Subscribing again changes `reportPrivate` when given and
   * keeps it otherwise.
   */
  async subscribe(
    accountId: string,
    channelId: string,
    options: { reportPrivate?: boolean } = {},
  ): Promise<Subscription> {
    const account = requireId(accountId, 'account');
    const channel = requireId(channelId, 'channel');
    return this.#db.transaction(async (tx) => {
      const values = {
        accountId: account,
        channelId: channel,
        reportPrivate: options.reportPrivate ?? false,
      };
      const [row] = await tx
        .insert(subscriptions)
        .values(values)
        .onConflictDoUpdate({
          target: [subscriptions.accountId, subscriptions.channelId],
          set: { reportPrivate: options.reportPrivate ?? sql`${subscriptions.reportPrivate}` },
        })
        .returning();
      const [channelRow] = await tx.select().from(channels).where(eq(channels.id, channel));
      if (!row || !channelRow) throw new Error('Subscription or its channel vanished inside the transaction');
      return { accountId, channelId, reportPrivate: row.reportPrivate, channel: toChannel(channelRow) };
    });
  }

  /** Stops an account following a channel; false when it did not. */
  async unsubscribe(accountId: string, channelId: string): Promise<boolean> {
    const account = parseId(accountId);
    const channel = parseId(channelId);
    if (account === null || channel === null) return false;
    const rows = await this.#db
      .delete(subscriptions)
      .where(and(eq(subscriptions.accountId, account), eq(subscriptions.channelId, channel)))
      .returning({ accountId: subscriptions.accountId });
    return rows.length > 0;
  }

  /** The channels an account follows, with each channel, by channel id. */
  async subscriptionsOf(accountId: string): Promise<Subscription[]> {
    const key = parseId(accountId);
    if (key === null) return [];
    const rows = await this.#db
      .select({ reportPrivate: subscriptions.reportPrivate, channel: channels })
      .from(subscriptions)
      .innerJoin(channels, eq(channels.id, subscriptions.channelId))
      .where(eq(subscriptions.accountId, key))
      .orderBy(asc(channels.id));
    return rows.map((r) => ({
      accountId: idString(key),
      channelId: idString(r.channel.id),
      reportPrivate: r.reportPrivate,
      channel: toChannel(r.channel),
    }));
  }
}
