/**
 * What the bot posts: replies, fan-out summaries with their "Details" button, and the details
 * themselves. Shared by the update handlers and the notifier so a summary looks the same whichever
 * way it arrived.
 */
import type { InlineKeyboardMarkup } from 'telegraf/types';
import type { CommandReply, FanoutSummary, Logger } from '../../src/index.js';
import type { TelegramApi } from './api.js';
import { LiveMessage } from './live.js';
import { renderDetails, renderReply, renderSummary, splitHtml } from './render.js';
import { BoundedMap } from './updates.js';

/** Callback data prefix of the "Details" button. */
export const DETAILS = 'd';

interface KeptSummary {
  readonly summary: FanoutSummary;
  readonly chatId: string;
  messageId: number | null;
  shown: boolean;
}

/** What {@link TelegramOutput} posts through and how. */
export interface TelegramOutputOptions {
  readonly api: TelegramApi;
  readonly log: Logger;
  readonly minEditIntervalMs: number;
  /** How many recent summaries keep their details for the button. */
  readonly keepSummaries?: number;
}

/** Posts replies and summaries, and keeps recent summaries for their "Details" button. */
export class TelegramOutput {
  private readonly summaries: BoundedMap<string, KeptSummary>;
  private serial = 0;

  constructor(private readonly options: TelegramOutputOptions) {
    this.summaries = new BoundedMap(options.keepSummaries ?? 500);
  }

  /** A message that will show progress and then a result in `chatId`. */
  live(
    chatId: string,
    at: { replyTo?: number; messageId?: number; onSent?: (messageId: number) => void } = {},
  ): LiveMessage {
    return new LiveMessage({
      api: this.options.api,
      log: this.options.log,
      chatId,
      minEditIntervalMs: this.options.minEditIntervalMs,
      ...at,
    });
  }

  /** Post HTML (split when long); resolves with the first message's id. */
  send(
    chatId: string,
    html: string,
    at: { replyTo?: number; keyboard?: InlineKeyboardMarkup } = {},
  ): Promise<number> {
    const { keyboard, ...where } = at;
    return this.live(chatId, where).finish(html, keyboard);
  }

  /** Show a command reply in `live`: a fan-out as its summary with the "Details" button. */
  async show(live: LiveMessage, reply: CommandReply): Promise<number> {
    if (reply.kind === 'fanout') return this.showFanout(live, reply.summary, reply.duplicate);
    return live.finish(renderReply(reply));
  }

  async showFanout(live: LiveMessage, summary: FanoutSummary, duplicate: boolean): Promise<number> {
    if (summary.outcomes.length === 0) return live.finish(renderSummary(summary, duplicate));
    const key = `${(++this.serial).toString(36)}`;
    const kept: KeptSummary = { summary, chatId: live.chatId, messageId: null, shown: false };
    this.summaries.set(key, kept);
    const keyboard = { inline_keyboard: [[{ text: 'Details', callback_data: `${DETAILS}:${key}` }]] };
    kept.messageId = await live.finish(renderSummary(summary, duplicate), keyboard);
    return kept.messageId;
  }

  /**
   * The per-account lines of a kept summary, once: a second press would only repeat them in the
   * chat. Otherwise a note saying why there is nothing to show.
   */
  takeDetails(key: string): { post: () => Promise<void> } | { note: string } {
    const kept = this.summaries.get(key);
    if (!kept) return { note: 'These details are no longer kept; run /positions instead.' };
    if (kept.shown) return { note: 'The details are already in the chat.' };
    kept.shown = true;
    return {
      post: async () => {
        const parts = splitHtml(renderDetails(kept.summary));
        for (const [i, part] of parts.entries()) {
          const at = i === 0 && kept.messageId !== null ? { replyTo: kept.messageId } : {};
          await this.send(kept.chatId, part, at);
        }
      },
    };
  }
}
