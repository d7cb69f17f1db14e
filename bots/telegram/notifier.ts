/**
 * The service's notifications delivered to Telegram chats: texts, credential alerts, and fan-outs
 * the service runs on its own (progress in one message that becomes the summary).
 */
import type { Notification, Notifier } from '../../src/index.js';
import type { LiveMessage } from './live.js';
import type { TelegramOutput } from './output.js';
import { renderNotificationText, renderProgress } from './render.js';
import { BoundedMap } from './updates.js';

/** The {@link Notifier} of the Telegram transport; a user's id reaches their private chat. */
export class TelegramNotifier implements Notifier {
  /** Fan-outs in progress, by chat and signal, until their summary arrives. */
  private readonly fanouts = new BoundedMap<string, LiveMessage>(200);
  private closed = false;

  constructor(private readonly output: TelegramOutput) {}

  /** Delivers notifications for Telegram chats; ignores the rest. */
  async notify(notification: Notification): Promise<void> {
    if (this.closed || notification.to.platform !== 'telegram') return;
    const to = notification.to;
    // A user's private chat with the bot has the user's id, so a person is reached by their id.
    const chatId = 'chatId' in to ? to.chatId : to.userId;
    switch (notification.type) {
      case 'text':
      case 'credential_state':
        await this.output.send(chatId, renderNotificationText(notification));
        return;
      case 'fanout_progress': {
        const key = `${chatId}:${notification.progress.signalId}`;
        let live = this.fanouts.get(key);
        if (!live) {
          live = this.output.live(chatId);
          this.fanouts.set(key, live);
        }
        live.progress(renderProgress(notification.progress, null));
        return;
      }
      case 'fanout_summary': {
        const key = `${chatId}:${notification.summary.signalId}`;
        const live = this.fanouts.get(key) ?? this.output.live(chatId);
        this.fanouts.delete(key);
        await this.output.showFanout(live, notification.summary, false);
        return;
      }
    }
  }

  /** Deliver nothing more (the bot is stopping; the composite notifier still holds this one). */
  close(): void {
    this.closed = true;
    for (const live of this.fanouts.values()) live.cancel();
  }
}
