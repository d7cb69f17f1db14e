/**
 * The Bot API calls the transport makes, through telegraf's client, honouring Telegram's flood
 * control: a 429 answer carries `retry_after` seconds; the call is repeated after that wait, and
 * other calls to the same chat wait too (Telegram's limits are per chat), instead of failing the
 * reply or hammering the API.
 */
import { type Telegram, TelegramError } from 'telegraf';
import type { Telegram as Methods, Opts } from 'telegraf/types';
import type { Logger } from '../../src/index.js';

/** How persistent {@link TelegramApi} is with flood control. */
export interface TelegramApiOptions {
  /** Attempts per call, the first included, before a 429 is given up on. */
  readonly maxAttempts?: number;
}

/** A `callApi` that waits out 429s. One per bot; calls for different chats do not wait on each other. */
export class TelegramApi {
  private readonly pausedUntil = new Map<string, number>();
  private readonly maxAttempts: number;

  constructor(
    private readonly client: Telegram,
    private readonly log: Logger,
    options: TelegramApiOptions = {},
  ) {
    this.maxAttempts = options.maxAttempts ?? 5;
  }

  async call<M extends keyof Methods>(method: M, payload: Opts<M>): Promise<ReturnType<Methods[M]>> {
    const chat = chatOf(payload);
    for (let attempt = 1; ; attempt++) {
      await this.waitFor(chat);
      try {
        return await this.client.callApi(method, payload);
      } catch (error) {
        if (!(error instanceof TelegramError) || error.code !== 429 || attempt >= this.maxAttempts)
          throw error;
        const retryAfter = error.parameters?.retry_after ?? 1;
        const until = Date.now() + retryAfter * 1000;
        this.pausedUntil.set(chat, Math.max(until, this.pausedUntil.get(chat) ?? 0));
        this.log.warn(
          { method, chat, retryAfter, attempt },
          'Telegram flood control: waiting before retrying',
        );
      }
    }
  }

  private async waitFor(chat: string): Promise<void> {
    for (;;) {
      const until = this.pausedUntil.get(chat);
      if (until === undefined) return;
      const wait = until - Date.now();
      if (wait <= 0) {
        this.pausedUntil.delete(chat);
        return;
      }
      // Telegram told us how long to stay quiet; this is that wait, not a guess at a pace.
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}

/** The chat a call is about; calls without one share a bucket. */
function chatOf(payload: unknown): string {
  const chatId = (payload as { chat_id?: unknown } | null)?.chat_id;
  return chatId === undefined ? '*' : String(chatId);
}
