/**
 * The service's Notifier on Discord: delivers notifications addressed to the `discord` platform, to
 * a channel by its id or privately to a user by their id, and ignores every other platform.
 */
import { type Client, DiscordAPIError, type Message, RESTJSONErrorCodes } from 'discord.js';
import type { Destination, Logger, Notification, Notifier } from '../../src/index.js';
import { renderNotification, type View } from './render.js';

export interface DiscordNotifierOptions {
  readonly client: Client;
  readonly log: Logger;
  /** False once the transport stops: later notifications are dropped. */
  readonly active: () => boolean;
}

/** How many fan-outs may show live progress at once before the oldest stops being edited. */
const MAX_LIVE = 100;

export class DiscordNotifier implements Notifier {
  /** Progress messages by destination and signal, edited in place until the summary replaces them. */
  private readonly live = new Map<string, Promise<Message | null>>();

  constructor(private readonly options: DiscordNotifierOptions) {}

  async notify(notification: Notification): Promise<void> {
    if (notification.to.platform !== 'discord' || !this.options.active()) return;
    const views = renderNotification(notification);
    if (notification.type === 'fanout_progress' || notification.type === 'fanout_summary') {
      const signalId =
        notification.type === 'fanout_progress'
          ? notification.progress.signalId
          : notification.summary.signalId;
      const key = `${destinationKey(notification.to)}:${signalId}`;
      const view = views[0]!;
      const previous = this.live.get(key);
      if (notification.type === 'fanout_summary') this.live.delete(key);
      const next = this.upsert(notification.to, previous, view);
      if (notification.type === 'fanout_progress') {
        this.live.set(key, next);
        for (const old of this.live.keys()) {
          if (this.live.size <= MAX_LIVE) break;
          this.live.delete(old);
        }
      }
      await next;
      return;
    }
    for (const view of views) await this.send(notification.to, view);
  }

  /** Edit the message a previous notification posted, or post a new one. */
  private async upsert(to: Destination, previous: Promise<Message | null> | undefined, view: View) {
    const message = previous ? await previous.catch(() => null) : null;
    if (message) {
      await message.edit({
        content: view.content ?? '',
        embeds: view.embeds ?? [],
        components: view.components ?? [],
      });
      return message;
    }
    return this.send(to, view);
  }

  private async send(to: Destination, view: View): Promise<Message | null> {
    const { client } = this.options;
    const payload = {
      ...(view.content ? { content: view.content } : {}),
      ...(view.embeds ? { embeds: view.embeds } : {}),
      ...(view.components ? { components: view.components } : {}),
      ...(view.files ? { files: view.files } : {}),
    };
    if ('userId' in to) return client.users.send(to.userId, payload);
    const channel = await client.channels.fetch(to.chatId).catch((error: unknown) => {
      if (error instanceof DiscordAPIError && error.code === RESTJSONErrorCodes.UnknownChannel) return null;
      throw error;
    });
    if (!channel?.isSendable()) {
      this.options.log.warn(
        { chatId: to.chatId },
        'cannot post a notification: no such channel, or not a text channel',
      );
      return null;
    }
    return channel.send(payload);
  }
}

const destinationKey = (to: Destination) => ('userId' in to ? `user:${to.userId}` : `chat:${to.chatId}`);
