/**
 * A local Telegram Bot API server for end-to-end tests. It serves `/bot<token>/<method>` on
 * 127.0.0.1 for a real telegraf client pointed at it with `apiRoot`, holds `getUpdates` open until an
 * update is queued (real long polling), delivers updates to a webhook when one is set, keeps the
 * messages the bot sent (with their edits) and records every call.
 *
 * It answers with the errors the real server gives for the mistakes a bot can make: HTML that does
 * not parse, messages over 4,096 characters, an edit that changes nothing, a callback answered twice,
 * `getUpdates` while a webhook is set. A 429 can be injected for the next calls of a method.
 */
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseHtml } from './html.js';

export type Json = Record<string, unknown>;

export interface FakeUser {
  readonly id: number;
  readonly is_bot: boolean;
  readonly first_name: string;
  readonly username?: string;
}

export interface FakeChat {
  readonly id: number;
  readonly type: 'private' | 'group' | 'supergroup' | 'channel';
  readonly title?: string;
  readonly first_name?: string;
  readonly username?: string;
}

/** An update as the Bot API sends it. */
export interface Update extends Json {
  readonly update_id: number;
}

/** An update before the fake numbers it. */
export type UpdateInput = Json & { readonly update_id?: number };

/** One API call the bot made, with what the fake answered. */
export interface RecordedCall {
  readonly seq: number;
  readonly method: string;
  readonly params: Json;
  /** When the request arrived (ms since the epoch). */
  readonly at: number;
  readonly status: number;
  readonly response: Json;
}

/** A message in a chat, as the fake keeps it: the bot's own messages change with each edit. */
export interface StoredMessage {
  /** Order of creation across every chat, to tell the messages of one test from earlier ones. */
  readonly serial: number;
  readonly message_id: number;
  readonly chat: FakeChat;
  readonly fromBot: boolean;
  readonly date: number;
  /** The text as the bot sent it (HTML source in HTML mode). */
  source: string;
  /** The text a user sees. */
  plain: string;
  replyMarkup: unknown;
  replyTo: number | null;
  /** Every text the message showed, first to last. */
  readonly history: string[];
}

export interface WebhookDelivery {
  readonly updateId: number;
  readonly status: number;
}

class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly description: string,
    readonly parameters?: Json,
  ) {
    super(description);
  }
}

interface Waiter {
  readonly res: ServerResponse;
  readonly limit: number;
  readonly timer: NodeJS.Timeout;
  readonly at: number;
  readonly params: Json;
}

const MAX_TEXT = 4096;
const NOT_MODIFIED =
  'Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message';

const now = () => Math.floor(Date.now() / 1000);

/** One fake Bot API server serving one bot token. */
export class FakeTelegram {
  readonly calls: RecordedCall[] = [];
  readonly webhookDeliveries: WebhookDelivery[] = [];
  /** What the bot registered with setMyCommands. */
  commands: { command: string; description: string }[] = [];
  webhook: { url: string; secretToken: string | null } | null = null;

  private readonly events = new EventEmitter();
  private readonly queue: Update[] = [];
  private readonly waiters = new Set<Waiter>();
  private readonly chats = new Map<string, FakeChat>();
  private readonly messages = new Map<string, Map<number, StoredMessage>>();
  private readonly lastMessageId = new Map<string, number>();
  private readonly callbackQueries = new Map<string, { answered: boolean }>();
  private readonly failures = new Map<string, { remaining: number; retryAfter: number }>();
  private webhookOrigin: string | null = null;
  private deliveries: Promise<void> = Promise.resolve();
  private nextUpdateId = 1000;
  private nextCallbackId = 1;
  private seq = 0;
  private serial = 0;

  private constructor(
    private readonly server: Server,
    readonly token: string,
    readonly me: FakeUser,
    readonly apiRoot: string,
  ) {
    this.events.setMaxListeners(100);
  }

  /** Start on 127.0.0.1 and a free port. */
  static async start(options: { token: string; username?: string; botId?: number }): Promise<FakeTelegram> {
    const me: FakeUser = {
      id: options.botId ?? 7_000_000_001,
      is_bot: true,
      first_name: 'Tradecast',
      username: options.username ?? 'TradecastTestBot',
    };
    let fake: FakeTelegram | null = null;
    const server = createServer((req, res) => {
      void fake!.handle(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    fake = new FakeTelegram(server, options.token, me, `http://127.0.0.1:${port}`);
    return fake;
  }

  /** The bot's username, as getMe reports it. */
  get botUsername(): string {
    return this.me.username!;
  }

  /** Answer held polls, finish webhook deliveries and stop listening. */
  async close(): Promise<void> {
    for (const waiter of this.waiters) this.answerUpdates(waiter, []);
    await this.deliveries;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Test controls

  /**
   * Queue updates (numbered unless they carry an `update_id`) for `getUpdates`, or deliver them to
   * the webhook when one is set. Updates pushed together reach a waiting poll in one batch.
   */
  pushUpdate(...inputs: UpdateInput[]): Update[] {
    const updates = inputs.map((input) => {
      const update = { ...input, update_id: input.update_id ?? ++this.nextUpdateId } as Update;
      this.nextUpdateId = Math.max(this.nextUpdateId, update.update_id);
      return update;
    });
    if (this.webhook) {
      for (const update of updates) this.deliver(update);
      return updates;
    }
    this.queue.push(...updates);
    // Wake pollers on the next turn so that updates pushed together arrive together.
    setImmediate(() => this.wakeWaiters());
    return updates;
  }

  /** Answer the next `times` calls of `method` with 429 Too Many Requests and this `retry_after`. */
  failNext(method: string, times = 1, retryAfter = 1): void {
    this.failures.set(method, { remaining: times, retryAfter });
  }

  /**
   * Deliver webhooks to this origin instead of the registered host, keeping the path: the reverse
   * proxy that sits in front of a bot in production.
   */
  routeWebhook(origin: string): void {
    this.webhookOrigin = origin;
  }

  /** POST one update to the webhook with the given secret header; resolves with the HTTP status. */
  postToWebhook(update: UpdateInput, options: { secretToken?: string | null } = {}): Promise<number> {
    if (!this.webhook) throw new Error('no webhook is set');
    const full = { ...update, update_id: update.update_id ?? ++this.nextUpdateId } as Update;
    const secret = options.secretToken === undefined ? this.webhook.secretToken : options.secretToken;
    return this.post(this.webhookTarget(), full, secret);
  }

  /** Resolve with the first recorded call (earlier or later) that matches. */
  waitForCall(
    predicate: (call: RecordedCall) => boolean,
    what = 'a matching call',
    timeoutMs = 10_000,
  ): Promise<RecordedCall> {
    const found = this.calls.find(predicate);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const onCall = (call: RecordedCall) => {
        if (!predicate(call)) return;
        clearTimeout(timer);
        this.events.off('call', onCall);
        resolve(call);
      };
      const timer = setTimeout(() => {
        this.events.off('call', onCall);
        const recent = this.calls
          .slice(-8)
          .map((c) => `${c.method} ${c.status} ${JSON.stringify(c.params).slice(0, 160)}`);
        reject(new Error(`timed out waiting for ${what}; last calls:\n  ${recent.join('\n  ')}`));
      }, timeoutMs);
      this.events.on('call', onCall);
    });
  }

  /** The recorded calls of one method, optionally to one chat. */
  callsOf(method: string, chatId?: number | string): RecordedCall[] {
    return this.calls.filter(
      (c) => c.method === method && (chatId === undefined || String(c.params.chat_id) === String(chatId)),
    );
  }

  /** The bot's messages in a chat, oldest first, as they look now. */
  botMessages(chatId: number | string): StoredMessage[] {
    return [...(this.messages.get(String(chatId))?.values() ?? [])].filter((m) => m.fromBot);
  }

  /** The serial of the newest message in any chat (0 before any): later messages have higher ones. */
  get messageSerial(): number {
    return this.serial;
  }

  /** One of the bot's messages as it looks now. */
  botMessage(chatId: number | string, messageId: number): StoredMessage | undefined {
    const message = this.messages.get(String(chatId))?.get(messageId);
    return message?.fromBot ? message : undefined;
  }

  // ---------------------------------------------------------------------------------------------
  // Update builders

  /** A person (not a bot). */
  static user(id: number, firstName: string, username?: string): FakeUser {
    return { id, is_bot: false, first_name: firstName, ...(username ? { username } : {}) };
  }

  /** The private chat of a person with the bot; its id is the person's id. */
  static privateChat(user: FakeUser): FakeChat {
    return {
      id: user.id,
      type: 'private',
      first_name: user.first_name,
      ...(user.username ? { username: user.username } : {}),
    };
  }

  /** A supergroup (ids of supergroups and channels are negative). */
  static group(id: number, title: string): FakeChat {
    return { id, type: 'supergroup', title };
  }

  /** A channel. */
  static channel(id: number, title: string): FakeChat {
    return { id, type: 'channel', title };
  }

  /** A text message from a user; `extra` adds or overrides message fields. */
  message(chat: FakeChat, from: FakeUser, text: string, extra: Json = {}): UpdateInput {
    return { message: this.newMessage(chat, { from, text, ...extra }) };
  }

  /** A command as Telegram sends it: the `bot_command` entity covers `/cmd` or `/cmd@bot`. */
  command(chat: FakeChat, from: FakeUser, text: string, extra: Json = {}): UpdateInput {
    const head = /^\/\S+/.exec(text)?.[0];
    const entities = head ? [{ type: 'bot_command', offset: 0, length: head.length }] : [];
    return this.message(chat, from, text, { entities, ...extra });
  }

  /**
   * A message the user forwarded into `chat`. `origin` is the Bot API `forward_origin`, e.g.
   * `{ type: 'channel', chat, message_id, date }` or `{ type: 'user', sender_user, date }`.
   */
  forwarded(chat: FakeChat, from: FakeUser, text: string, origin: Json): UpdateInput {
    return this.message(chat, from, text, { forward_origin: origin });
  }

  /** A post in a channel: no `from`; the sender is the channel itself. */
  channelPost(chat: FakeChat, text: string, extra: Json = {}): UpdateInput {
    return { channel_post: this.newMessage(chat, { sender_chat: chat, text, ...extra }) };
  }

  /** A press of an inline button on one of the bot's messages. */
  callback(from: FakeUser, message: StoredMessage, data: string): UpdateInput {
    const id = `cq${this.nextCallbackId++}`;
    this.callbackQueries.set(id, { answered: false });
    return {
      callback_query: {
        id,
        from,
        chat_instance: `ci${message.chat.id}`,
        data,
        message: this.messageJson(message),
      },
    };
  }

  private newMessage(chat: FakeChat, fields: Json): Json {
    this.chats.set(String(chat.id), chat);
    const messageId = this.nextMessageId(chat.id);
    const text = typeof fields.text === 'string' ? fields.text : '';
    this.store({
      serial: ++this.serial,
      message_id: messageId,
      chat,
      fromBot: false,
      date: now(),
      source: text,
      plain: text,
      replyMarkup: undefined,
      replyTo: null,
      history: [text],
    });
    return { message_id: messageId, date: now(), chat, ...fields };
  }

  // ---------------------------------------------------------------------------------------------
  // The HTTP API

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = Date.now();
    const match = /^\/bot([^/]+)\/(?:test\/)?([A-Za-z]+)$/.exec((req.url ?? '').split('?')[0]!);
    let params: Json = {};
    try {
      params = await readParams(req);
    } catch {
      return this.finish(res, at, match?.[2] ?? '?', {}, new ApiError(400, 'Bad Request: invalid JSON'));
    }
    if (!match) return this.finish(res, at, '?', params, new ApiError(404, 'Not Found'));
    const [, token, method] = match as unknown as [string, string, string];
    if (token !== this.token) return this.finish(res, at, method, params, new ApiError(401, 'Unauthorized'));

    const failure = this.failures.get(method);
    if (failure && failure.remaining > 0) {
      failure.remaining -= 1;
      const error = new ApiError(429, `Too Many Requests: retry after ${failure.retryAfter}`, {
        retry_after: failure.retryAfter,
      });
      return this.finish(res, at, method, params, error);
    }
    if (method === 'getUpdates') return this.getUpdates(res, at, params);
    let result: unknown;
    try {
      result = this.dispatch(method, params);
    } catch (error) {
      if (error instanceof ApiError) return this.finish(res, at, method, params, error);
      throw error;
    }
    this.finish(res, at, method, params, result);
  }

  private finish(res: ServerResponse, at: number, method: string, params: Json, outcome: unknown): void {
    const body: Json =
      outcome instanceof ApiError
        ? {
            ok: false,
            error_code: outcome.code,
            description: outcome.description,
            ...(outcome.parameters ? { parameters: outcome.parameters } : {}),
          }
        : { ok: true, result: outcome };
    const status = outcome instanceof ApiError ? outcome.code : 200;
    if (!res.writableEnded && !res.destroyed) {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    }
    const call: RecordedCall = { seq: ++this.seq, method, params, at, status, response: body };
    this.calls.push(call);
    this.events.emit('call', call);
  }

  private dispatch(method: string, params: Json): unknown {
    switch (method) {
      case 'getMe':
        return {
          ...this.me,
          can_join_groups: true,
          can_read_all_group_messages: false,
          supports_inline_queries: false,
        };
      case 'sendMessage':
        return this.sendMessage(params);
      case 'editMessageText':
        return this.editMessageText(params);
      case 'deleteMessage': {
        const chat = this.messages.get(String(params.chat_id));
        if (!chat?.delete(Number(params.message_id)))
          throw new ApiError(400, 'Bad Request: message to delete not found');
        return true;
      }
      case 'answerCallbackQuery': {
        const query = this.callbackQueries.get(String(params.callback_query_id));
        if (!query || query.answered) {
          throw new ApiError(
            400,
            'Bad Request: query is too old and response timeout expired or query ID is invalid',
          );
        }
        if (typeof params.text === 'string' && params.text.length > 200)
          throw new ApiError(400, 'Bad Request: MESSAGE_TOO_LONG');
        query.answered = true;
        return true;
      }
      case 'setMyCommands': {
        const commands = (params.commands ?? []) as { command: string; description: string }[];
        for (const c of commands) {
          if (!/^[a-z0-9_]{1,32}$/.test(c.command))
            throw new ApiError(400, 'Bad Request: BOT_COMMAND_INVALID');
          if (!c.description || c.description.length > 256)
            throw new ApiError(400, 'Bad Request: BOT_COMMAND_DESCRIPTION_INVALID');
        }
        this.commands = commands;
        return true;
      }
      case 'setWebhook': {
        const url = String(params.url ?? '');
        if (!url.startsWith('https://'))
          throw new ApiError(400, 'Bad Request: bad webhook: An HTTPS URL must be provided for webhook');
        if (params.secret_token !== undefined && !/^[A-Za-z0-9_-]{1,256}$/.test(String(params.secret_token)))
          throw new ApiError(400, 'Bad Request: secret token contains unallowed characters');
        this.webhook = {
          url,
          secretToken: typeof params.secret_token === 'string' ? params.secret_token : null,
        };
        return true;
      }
      case 'deleteWebhook':
        this.webhook = null;
        if (params.drop_pending_updates) this.queue.length = 0;
        return true;
      case 'getWebhookInfo':
        return { url: this.webhook?.url ?? '', has_custom_certificate: false, pending_update_count: 0 };
      default:
        throw new ApiError(404, 'Not Found');
    }
  }

  private getUpdates(res: ServerResponse, at: number, params: Json): void {
    if (this.webhook) {
      const error = new ApiError(
        409,
        "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
      );
      this.finish(res, at, 'getUpdates', params, error);
      return;
    }
    const offset = Number(params.offset ?? 0);
    if (offset > 0) {
      // An offset confirms every update before it: Telegram forgets them.
      const keep = this.queue.filter((u) => u.update_id >= offset);
      this.queue.splice(0, this.queue.length, ...keep);
    }
    const limit = Math.min(Math.max(Number(params.limit ?? 100), 1), 100);
    const timeout = Number(params.timeout ?? 0);
    if (this.queue.length > 0 || timeout <= 0) {
      this.finish(res, at, 'getUpdates', params, this.queue.slice(0, limit));
      return;
    }
    const waiter: Waiter = {
      res,
      limit,
      at,
      params,
      timer: setTimeout(() => this.answerUpdates(waiter, []), timeout * 1000),
    };
    this.waiters.add(waiter);
    res.on('close', () => {
      // The client gave up (telegraf aborts its poll on stop): nothing to answer.
      if (this.waiters.delete(waiter)) clearTimeout(waiter.timer);
    });
  }

  private wakeWaiters(): void {
    if (this.queue.length === 0) return;
    for (const waiter of this.waiters) this.answerUpdates(waiter, this.queue.slice(0, waiter.limit));
  }

  private answerUpdates(waiter: Waiter, updates: Update[]): void {
    if (!this.waiters.delete(waiter)) return;
    clearTimeout(waiter.timer);
    this.finish(waiter.res, waiter.at, 'getUpdates', waiter.params, updates);
  }

  private sendMessage(params: Json): Json {
    const chat = this.chats.get(String(params.chat_id));
    if (!chat) throw new ApiError(400, 'Bad Request: chat not found');
    const { source, plain } = this.parseText(params);
    const markup = checkMarkup(params.reply_markup);
    const reply = params.reply_parameters as { message_id?: number; allow_sending_without_reply?: boolean };
    let replyTo: number | null = null;
    if (reply?.message_id !== undefined) {
      const exists = this.messages.get(String(chat.id))?.has(reply.message_id);
      if (!exists && !reply.allow_sending_without_reply)
        throw new ApiError(400, 'Bad Request: message to be replied not found');
      replyTo = exists ? reply.message_id : null;
    }
    const message: StoredMessage = {
      serial: ++this.serial,
      message_id: this.nextMessageId(chat.id),
      chat,
      fromBot: true,
      date: now(),
      source,
      plain,
      replyMarkup: markup,
      replyTo,
      history: [plain],
    };
    this.store(message);
    return this.messageJson(message);
  }

  private editMessageText(params: Json): Json {
    if (params.inline_message_id !== undefined)
      throw new ApiError(400, 'Bad Request: inline messages are not faked');
    const message = this.messages.get(String(params.chat_id))?.get(Number(params.message_id));
    if (!message?.fromBot) throw new ApiError(400, 'Bad Request: message to edit not found');
    const { source, plain } = this.parseText(params);
    const markup = checkMarkup(params.reply_markup);
    if (source === message.source && JSON.stringify(markup) === JSON.stringify(message.replyMarkup)) {
      throw new ApiError(400, NOT_MODIFIED);
    }
    message.source = source;
    message.plain = plain;
    message.replyMarkup = markup;
    message.history.push(plain);
    return this.messageJson(message);
  }

  private parseText(params: Json): { source: string; plain: string } {
    const source = typeof params.text === 'string' ? params.text : '';
    let plain = source;
    if (params.parse_mode === 'HTML') {
      const parsed = parseHtml(source);
      if (!parsed.ok) throw new ApiError(400, `Bad Request: can't parse entities: ${parsed.error}`);
      plain = parsed.plain;
    }
    if (plain.trim() === '') throw new ApiError(400, 'Bad Request: message text is empty');
    if (plain.length > MAX_TEXT) throw new ApiError(400, 'Bad Request: message is too long');
    return { source, plain };
  }

  private messageJson(message: StoredMessage): Json {
    return {
      message_id: message.message_id,
      date: message.date,
      chat: message.chat,
      ...(message.fromBot ? { from: this.me } : {}),
      text: message.plain,
      ...(message.replyMarkup ? { reply_markup: message.replyMarkup } : {}),
    };
  }

  private nextMessageId(chatId: number): number {
    const next = (this.lastMessageId.get(String(chatId)) ?? 0) + 1;
    this.lastMessageId.set(String(chatId), next);
    return next;
  }

  private store(message: StoredMessage): void {
    const key = String(message.chat.id);
    let chat = this.messages.get(key);
    if (!chat) {
      chat = new Map();
      this.messages.set(key, chat);
    }
    chat.set(message.message_id, message);
  }

  // ---------------------------------------------------------------------------------------------
  // Webhook delivery

  private webhookTarget(): URL {
    const target = new URL(this.webhook!.url);
    if (this.webhookOrigin) {
      const origin = new URL(this.webhookOrigin);
      target.protocol = origin.protocol;
      target.host = origin.host;
    } else {
      // Telegram only calls https URLs; the bot under test listens on plain http.
      target.protocol = 'http:';
    }
    return target;
  }

  private deliver(update: Update): void {
    // One delivery at a time, in order, as Telegram does for a bot.
    this.deliveries = this.deliveries.then(async () => {
      const status = await this.post(this.webhookTarget(), update, this.webhook?.secretToken ?? null).catch(
        () => 0,
      );
      this.webhookDeliveries.push({ updateId: update.update_id, status });
      this.events.emit('delivery');
    });
  }

  private post(url: URL, update: Update, secretToken: string | null): Promise<number> {
    const body = JSON.stringify(update);
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            ...(secretToken !== null ? { 'x-telegram-bot-api-secret-token': secretToken } : {}),
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }
}

function checkMarkup(markup: unknown): unknown {
  if (markup === undefined || markup === null) return undefined;
  const parsed = typeof markup === 'string' ? JSON.parse(markup) : markup;
  const rows = (parsed as { inline_keyboard?: { text?: string; callback_data?: string }[][] })
    .inline_keyboard;
  for (const button of rows?.flat() ?? []) {
    if (!button.text)
      throw new ApiError(400, 'Bad Request: text buttons are unallowed in the inline keyboard');
    if (button.callback_data !== undefined && Buffer.byteLength(button.callback_data) > 64)
      throw new ApiError(400, 'Bad Request: BUTTON_DATA_INVALID');
  }
  // An empty keyboard is no keyboard.
  return rows && rows.length === 0 ? undefined : parsed;
}

async function readParams(req: IncomingMessage): Promise<Json> {
  const url = new URL(req.url ?? '/', 'http://fake');
  const query = Object.fromEntries(url.searchParams);
  let raw = '';
  for await (const chunk of req) raw += String(chunk);
  if (raw === '') return query;
  const type = req.headers['content-type'] ?? '';
  if (type.includes('application/x-www-form-urlencoded')) {
    return { ...query, ...Object.fromEntries(new URLSearchParams(raw)) };
  }
  return { ...query, ...(JSON.parse(raw) as Json) };
}
