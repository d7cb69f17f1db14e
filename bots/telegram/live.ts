/**
 * One chat message that shows a fan-out while it runs and then becomes its summary. Progress is
 * coalesced: at most one edit per interval, only the latest text, never an edit that changes
 * nothing (Telegram refuses those). The summary replaces the progress in the same message.
 */
import type { InlineKeyboardMarkup } from 'telegraf/types';
import type { Logger } from '../../src/index.js';
import type { TelegramApi } from './api.js';
import { splitHtml } from './render.js';

/** Where a {@link LiveMessage} goes and how often it may change. */
export interface LiveMessageOptions {
  readonly api: TelegramApi;
  readonly log: Logger;
  readonly chatId: string;
  /** The message this answers; the first message is sent as a reply to it. */
  readonly replyTo?: number;
  /** An existing message of the bot to edit instead of sending a new one (a confirmation prompt). */
  readonly messageId?: number;
  /** Least time between two progress edits of the message. */
  readonly minEditIntervalMs: number;
  /** Told the id of the message once it is first sent (not called when `messageId` was given). */
  readonly onSent?: (messageId: number) => void;
}

/** Progress, then the result, in one message of one chat. */
export class LiveMessage {
  private messageId: number | null;
  private shown: string | null = null;
  private latest: string | null = null;
  private busy: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastWriteAt = 0;
  private finished = false;

  constructor(private readonly options: LiveMessageOptions) {
    this.messageId = options.messageId ?? null;
  }

  get chatId(): string {
    return this.options.chatId;
  }

  /** The message shown so far, if any. */
  get id(): number | null {
    return this.messageId;
  }

  /** Show this progress text when the pace allows; only the latest text is ever sent. */
  progress(html: string): void {
    if (this.finished) return;
    this.latest = html;
    this.pump();
  }

  /**
   * Replace whatever is shown with the final text (split over several messages when longer than
   * Telegram allows; the keyboard goes on the first). Resolves with the id of the first message.
   */
  async finish(html: string, keyboard?: InlineKeyboardMarkup): Promise<number> {
    this.finished = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    while (this.busy) await this.busy;
    const [first = '…', ...rest] = splitHtml(html);
    const { api, chatId } = this.options;
    const markup = keyboard ? { reply_markup: keyboard } : {};
    if (this.messageId === null) {
      this.messageId = await this.send(first, markup);
    } else if (first !== this.shown || keyboard) {
      await this.edit(first, markup);
    }
    for (const part of rest) {
      await api.call('sendMessage', { chat_id: chatId, text: part, parse_mode: 'HTML' });
    }
    return this.messageId;
  }

  /** Stop showing progress (the reply turned out not to be a fan-out, or the bot is stopping). */
  cancel(): void {
    this.finished = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private pump(): void {
    if (this.finished || this.busy || this.timer || this.latest === null || this.latest === this.shown)
      return;
    const text = this.latest;
    const wait = this.lastWriteAt + this.options.minEditIntervalMs - Date.now();
    if (this.messageId !== null && wait > 0) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.pump();
      }, wait);
      return;
    }
    const write = async () => {
      if (this.messageId === null) this.messageId = await this.send(text, {});
      else await this.edit(text, {});
    };
    this.busy = write()
      .catch((error) => this.options.log.warn({ err: error, chatId: this.chatId }, 'progress update failed'))
      .finally(() => {
        this.busy = null;
        this.pump();
      });
  }

  private async send(text: string, markup: { reply_markup?: InlineKeyboardMarkup }): Promise<number> {
    const { api, chatId, replyTo } = this.options;
    const message = await api.call('sendMessage', {
      chat_id: chatId,
      text,
      parse_mode: 'HTML',
      ...(replyTo !== undefined
        ? { reply_parameters: { message_id: replyTo, allow_sending_without_reply: true } }
        : {}),
      ...markup,
    });
    this.shown = text;
    this.lastWriteAt = Date.now();
    this.options.onSent?.(message.message_id);
    return message.message_id;
  }

  private async edit(text: string, markup: { reply_markup?: InlineKeyboardMarkup }): Promise<void> {
    const { api, chatId } = this.options;
    try {
      await api.call('editMessageText', {
        chat_id: chatId,
        message_id: this.messageId!,
        text,
        parse_mode: 'HTML',
        ...markup,
      });
    } catch (error) {
      // Telegram answers 400 when the text and keyboard are what the message already shows.
      if (!(error instanceof Error && /message is not modified/.test(error.message))) throw error;
    }
    this.shown = text;
    this.lastWriteAt = Date.now();
  }
}
