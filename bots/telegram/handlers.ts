/**
 * What the bot does with each update: commands, forwarded alerts, signal posts in groups and
 * channels, and button presses. It turns each into a Principal plus a command or a signal for the
 * command layer and renders what comes back. Who may do what is the command layer's decision; the
 * only choices made here are whether a message is meant for this bot and whether to answer at all.
 */
import type { CallbackQuery, Update } from 'telegraf/types';
import {
  type App,
  addressedTo,
  type CommandContext,
  type CommandReply,
  type Logger,
  looksLikeSignal,
  type Principal,
  parseAlert,
  parseCommand,
} from '../../src/index.js';
import type { TelegramApi } from './api.js';
import type { LiveMessage } from './live.js';
import { DETAILS, type TelegramOutput } from './output.js';
import { describeSignal, escapeHtml, renderAlertError, renderConfirm, renderProgress } from './render.js';
import {
  BoundedSet,
  displayName,
  forwardOrigin,
  type IncomingMessage,
  isForwarded,
  principalOf,
  textOf,
} from './updates.js';

/** When a message was sent, by Telegram's clock: the engine does not act on an old signal. */
const sentAt = (message: IncomingMessage): Date => new Date(message.date * 1000);

/** The message an update carries, if it is one (a message or a channel post). */
const messageOf = (update: Update): IncomingMessage | null =>
  ('message' in update
    ? update.message
    : 'channel_post' in update
      ? update.channel_post
      : null) as IncomingMessage | null;

/** Callback data prefixes of the confirmation buttons; the token follows the colon. */
const CONFIRM = 'c';
const CANCEL = 'x';

/** How long handled updates stay in the inbox (redeliveries within it are recognised). */
const INBOX_KEPT_MS = 7 * 24 * 3600_000;

const PRIVATE_HINT = 'Send /help for the commands. To trade an alert on your own accounts, forward it here.';

/** What the handlers need: the service, the API, the output and the bot's own name. */
export interface TelegramHandlersOptions {
  readonly app: App;
  readonly api: TelegramApi;
  readonly output: TelegramOutput;
  readonly log: Logger;
  /** The bot's username, for `/cmd@name` in groups. */
  readonly botName: string;
  /** This bot's name in the chat inbox (`telegram:<bot id>`): update ids are unique per bot. */
  readonly inbox: string;
}

interface PendingConfirmation {
  readonly principal: Principal;
  readonly chatId: string;
  readonly messageId: number;
  readonly title: string | null;
  readonly expiresAt: number;
  timer: NodeJS.Timeout | null;
}

type Hooks = NonNullable<CommandContext['hooks']>;

/** Commands whose reply holds a personal link. */
const PRIVATE_REPLIES: ReadonlySet<string> = new Set(['link', 'dashboard']);

/** The bot's update handling; {@link TelegramHandlers.accept} takes every update telegraf receives. */
export class TelegramHandlers {
  /** Update ids already taken, so an exact redelivery is dropped before anything runs. */
  private readonly seen = new BoundedSet<number>(10_000);
  private readonly queues = new Map<string, Promise<void>>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly pending = new Map<string, PendingConfirmation>();
  /** The update each message being handled came in, and the answer a stopped process had shown. */
  private readonly updates = new WeakMap<
    IncomingMessage,
    { updateId: number; replyMessageId: number | null }
  >();
  /** Answers that take over a message a stopped process had shown for the same update. */
  private readonly resumed = new WeakSet<LiveMessage>();
  /** The last update being recorded: the next one waits for it, so updates keep their order. */
  private arrivals: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly options: TelegramHandlersOptions) {}

  /**
   * Take one update: record it, then return. Telegram counts an update as delivered once the next
   * poll (or the webhook answer) follows, which waits for this, so from then on the update is in
   * the inbox and a restart runs it again. Updates are recorded one after another, in the order
   * they arrive, and handed on in that order. (A signal Telegram held while the service was down
   * carries its message date; the engine does not act on it once too old.) The work runs in the
   * background, in order per sender and chat, so
   * a long fan-out neither holds up other chats nor keeps telegraf from fetching the next updates
   * (a button press must get through while the fan-out it belongs to is still running).
   */
  accept(update: Update): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (!this.seen.add(update.update_id)) {
      this.options.log.debug({ updateId: update.update_id }, 'telegram update dropped: delivered before');
      return Promise.resolve();
    }
    const taken = this.arrivals.then(() => this.recordAndTake(update));
    this.arrivals = taken.catch(() => undefined);
    return taken;
  }

  private async recordAndTake(update: Update): Promise<void> {
    const { log, app, inbox } = this.options;
    let fresh = true;
    try {
      fresh = await app.stores.inbox.record(inbox, update.update_id, update, new Date());
    } catch (error) {
      log.error(
        { err: error, updateId: update.update_id },
        'could not record a telegram update; handling it without the restart guarantee',
      );
    }
    if (!fresh) {
      // Redelivered after a restart: the inbox had it, and `replay` ran or answered it.
      log.debug({ updateId: update.update_id }, 'telegram update dropped: recorded before');
      return;
    }
    // Stopping: the row stays pending and the next start runs it.
    if (!this.closed) this.dispatch(update);
  }

  /**
   * Run the updates a stopped process recorded but did not finish, oldest first, before new ones
   * are taken (the engine answers a signal among them that is too old, or already executed).
   * Returns how many.
   */
  async replay(): Promise<number> {
    const { app, log, inbox } = this.options;
    await this.prune();
    const pending = await app.stores.inbox.pending(inbox);
    for (const row of pending) {
      this.seen.add(row.updateId);
      log.info(
        {
          updateId: row.updateId,
          ...(row.replyMessageId !== null ? { replyMessageId: row.replyMessageId } : {}),
        },
        'running a telegram update taken before the restart',
      );
      this.dispatch(row.body as Update, row.replyMessageId);
    }
    return pending.length;
  }

  /** Forget handled updates older than the inbox keeps them; never fails. */
  async prune(): Promise<void> {
    const { app, log, inbox } = this.options;
    await app.stores.inbox
      .prune(inbox, new Date(Date.now() - INBOX_KEPT_MS))
      .catch((error: unknown) => log.warn({ err: error }, 'could not prune the telegram inbox'));
  }

  private dispatch(update: Update, replyMessageId: number | null = null): void {
    if ('callback_query' in update) {
      this.track(update.update_id, () => this.onCallback(update.callback_query));
      return;
    }
    const message = messageOf(update);
    if (!message) {
      this.track(update.update_id, async () => 'ignored: not a message');
      return;
    }
    this.updates.set(message, { updateId: update.update_id, replyMessageId });
    const principal = principalOf(message);
    const key = `${message.chat.id}:${principal?.userId ?? ''}`;
    const previous = this.queues.get(key) ?? Promise.resolve();
    const next = previous.then(() =>
      this.run(update.update_id, () => this.onMessage(message, principal, 'channel_post' in update)),
    );
    this.queues.set(key, next);
    this.inFlight.add(next);
    void next.finally(() => {
      this.inFlight.delete(next);
      if (this.queues.get(key) === next) this.queues.delete(key);
    });
  }

  /** Take no more updates and wait for the ones in progress. */
  async close(): Promise<void> {
    this.closed = true;
    for (const pending of this.pending.values()) if (pending.timer) clearTimeout(pending.timer);
    await this.arrivals;
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private track(updateId: number | null, work: () => Promise<string>): void {
    const running = this.run(updateId, work);
    this.inFlight.add(running);
    void running.finally(() => this.inFlight.delete(running));
  }

  /**
   * Run one update's work (`updateId` null: work of the bot's own, such as an expiry); never
   * rejects. The log line at the end says what became of it, and the update's inbox row is marked
   * handled whatever the outcome: a failed update is reported, not retried.
   */
  private async run(updateId: number | null, work: () => Promise<string>): Promise<void> {
    const { log, app } = this.options;
    try {
      const outcome = await work();
      log.debug({ updateId, outcome }, 'telegram update handled');
    } catch (error) {
      log.error({ err: error, updateId }, 'telegram update failed');
    }
    if (updateId === null) return;
    await app.stores.inbox
      .handled(this.options.inbox, updateId)
      .catch((error: unknown) =>
        log.warn(
          { err: error, updateId },
          'could not mark a telegram update handled; a restart runs it again',
        ),
      );
  }

  // ---------------------------------------------------------------------------------------------
  // Messages

  private async onMessage(
    message: IncomingMessage,
    principal: Principal | null,
    channelPost: boolean,
  ): Promise<string> {
    const text = textOf(message);
    if (!text || !principal) return 'ignored: no text or no sender';
    // The linked channel's post arrives again in its discussion group; it was handled as a post.
    if (message.is_automatic_forward) return 'ignored: automatic forward';
    try {
      if (isForwarded(message)) return await this.onForwardedAlert(message, principal, text);
      if (!channelPost && text.startsWith('/')) return await this.onCommand(message, principal, text);
      if (message.chat.type === 'private') return await this.onPrivateText(message, principal, text);
      return await this.onSignalPost(message, principal, text);
    } catch (error) {
      await this.options.output
        .send(String(message.chat.id), '✗ Something went wrong on our side; the details are in the log.', {
          replyTo: message.message_id,
        })
        .catch(() => {});
      throw error;
    }
  }

  private async onCommand(message: IncomingMessage, principal: Principal, text: string): Promise<string> {
    const { app, botName } = this.options;
    const target = addressedTo(text);
    if (target && target.toLowerCase() !== botName.toLowerCase()) return 'ignored: addressed to another bot';
    // Telegram clients send /start when a user opens the bot; the help is the right first answer.
    const line = /^\/start(?:@\w+)?(?:\s|$)/i.test(text) ? '/help' : text;
    const parsed = parseCommand(line, { botName });
    if (!parsed.ok && parsed.error.code === 'unknown_command' && message.chat.type !== 'private' && !target) {
      // Every bot in a group sees every bare /command; one we do not know belongs to another bot.
      return 'ignored: unknown command in a group';
    }
    const chatId = String(message.chat.id);
    if (parsed.ok && PRIVATE_REPLIES.has(parsed.value.name) && message.chat.type !== 'private') {
      return this.replyPrivately(message, principal, line);
    }
    const title = parsed.ok && 'signal' in parsed.value ? describeSignal(parsed.value.signal) : null;
    const live = this.live(message);
    const reply = await app.commands.runText(principal, line, {
      dedupKey: `telegram:${chatId}:${message.message_id}`,
      botName,
      hooks: this.progressHooks(live, title),
      sentAt: sentAt(message),
    });
    await this.respond(live, reply, principal, title);
    return `command: ${reply.kind}`;
  }

  /**
   * Replies that carry a personal sign-in link go to the caller's private chat, never to the group,
   * where anyone could open the link first.
   */
  private async replyPrivately(
    message: IncomingMessage,
    principal: Principal,
    line: string,
  ): Promise<string> {
    const { app, botName, output, log } = this.options;
    const groupId = String(message.chat.id);
    const reply = await app.commands.runText(principal, line, {
      dedupKey: `telegram:${groupId}:${message.message_id}`,
      botName,
    });
    try {
      await output.show(output.live(principal.userId), reply);
      await output.send(groupId, 'I sent you a private message.', { replyTo: message.message_id });
      return `command: ${reply.kind} (private)`;
    } catch (error) {
      log.info({ err: error, userId: principal.userId }, 'could not reach the user privately');
      await output.send(groupId, `Open a private chat with @${botName} first, then run the command there.`, {
        replyTo: message.message_id,
      });
      return 'command: private reply failed';
    }
  }

  /** A forwarded alert trades the forwarder's own accounts. */
  private async onForwardedAlert(
    message: IncomingMessage,
    principal: Principal,
    text: string,
  ): Promise<string> {
    const parsed = parseAlert(text);
    const chatId = String(message.chat.id);
    if (!parsed.ok) {
      // In a group people forward all sorts of things; only what reads like a signal gets an answer.
      if (message.chat.type !== 'private' && !looksLikeSignal(text))
        return 'ignored: forward is not a signal';
      await this.options.output.send(chatId, renderAlertError(parsed.error), { replyTo: message.message_id });
      return 'alert: parse error';
    }
    // Keyed on the original message, so the same alert forwarded twice trades once.
    const dedupKey = `telegram:alert:${principal.userId}:${forwardOrigin(message, text)}`;
    return this.ownAlert(message, principal, parsed.value, dedupKey);
  }

  /** In a private chat with the bot, a pasted alert means the same as a forwarded one. */
  private async onPrivateText(message: IncomingMessage, principal: Principal, text: string): Promise<string> {
    const chatId = String(message.chat.id);
    if (!looksLikeSignal(text) && !/^\s*[{[]/.test(text)) {
      await this.options.output.send(chatId, escapeHtml(PRIVATE_HINT), { replyTo: message.message_id });
      return 'private: hint';
    }
    const parsed = parseAlert(text);
    if (!parsed.ok) {
      await this.options.output.send(chatId, renderAlertError(parsed.error), { replyTo: message.message_id });
      return 'alert: parse error';
    }
    return this.ownAlert(message, principal, parsed.value, `telegram:alert:${chatId}:${message.message_id}`);
  }

  private async ownAlert(
    message: IncomingMessage,
    principal: Principal,
    signal: Parameters<App['commands']['ownSignal']>[1],
    dedupKey: string,
  ): Promise<string> {
    const title = describeSignal(signal);
    const live = this.live(message);
    const reply = await this.options.app.commands.ownSignal(principal, signal, {
      dedupKey,
      source: 'alert',
      hooks: this.progressHooks(live, title),
      sentAt: sentAt(message),
    });
    await this.respond(live, reply, principal, title);
    return `alert: ${reply.kind}`;
  }

  /**
   * A post in a group or channel: a signal when the chat is a registered signal channel and the
   * sender one of its providers (the command layer decides). Anything else stays unanswered, so
   * ordinary chatter and posts by others cause no replies.
   */
  private async onSignalPost(message: IncomingMessage, principal: Principal, text: string): Promise<string> {
    const { app, output, log } = this.options;
    const chatId = String(message.chat.id);
    const parsed = parseAlert(text);
    if (!parsed.ok) {
      if (!looksLikeSignal(text)) return 'ignored: not a signal';
      const registered = await app.stores.channels.find('telegram', chatId, 'signal');
      if (!registered) return 'ignored: not a signal channel';
      await output.send(chatId, renderAlertError(parsed.error), { replyTo: message.message_id });
      return 'signal: parse error';
    }
    const title = describeSignal(parsed.value);
    const live = this.live(message);
    const reply = await app.commands.broadcast(principal, { platform: 'telegram', chatId }, parsed.value, {
      dedupKey: `telegram:${chatId}:${message.message_id}`,
      source: 'channel',
      hooks: this.progressHooks(live, title),
      sentAt: sentAt(message),
    });
    if (reply.kind === 'error' && reply.code === 'not_signal_channel') {
      live.cancel();
      return 'ignored: not a signal channel';
    }
    if (reply.kind === 'denied') {
      live.cancel();
      log.info(
        { chatId, sender: principal.userId, code: reply.denial.code },
        'signal post not executed: the sender may not broadcast here',
      );
      return `signal: denied ${reply.denial.code}`;
    }
    await this.respond(live, reply, principal, title);
    return `signal: ${reply.kind}`;
  }

  /**
   * The message that answers `message` with progress and then its outcome. The first time it is
   * sent, its id goes into the update's inbox row; when the update runs again after a restart, the
   * answer takes that message over instead of leaving it showing progress that stopped.
   */
  private live(message: IncomingMessage): LiveMessage {
    const { output, app, inbox, log } = this.options;
    const chatId = String(message.chat.id);
    const update = this.updates.get(message);
    if (update?.replyMessageId != null) {
      const live = output.live(chatId, { messageId: update.replyMessageId });
      this.resumed.add(live);
      return live;
    }
    return output.live(chatId, {
      replyTo: message.message_id,
      ...(update
        ? {
            onSent: (messageId: number) =>
              void app.stores.inbox
                .replied(inbox, update.updateId, messageId)
                .catch((error: unknown) =>
                  log.warn(
                    { err: error, updateId: update.updateId },
                    'could not note the reply to a telegram update',
                  ),
                ),
          }
        : {}),
    });
  }

  private progressHooks(live: LiveMessage, title: string | null): Hooks {
    return { onProgress: (progress) => live.progress(renderProgress(progress, title)) };
  }

  private async respond(
    live: LiveMessage,
    reply: CommandReply,
    principal: Principal,
    title: string | null,
  ): Promise<void> {
    if (reply.kind !== 'confirm') {
      // Taking over the progress a stopped process showed: the signal is this update's own, so its
      // summary is the outcome, not a pointer to an earlier delivery.
      const own = reply.kind === 'fanout' && reply.duplicate && this.resumed.has(live);
      await this.options.output.show(live, own ? { ...reply, duplicate: false } : reply);
      return;
    }
    const keyboard = {
      inline_keyboard: [
        [
          { text: '✅ Confirm', callback_data: `${CONFIRM}:${reply.token}` },
          { text: '✗ Cancel', callback_data: `${CANCEL}:${reply.token}` },
        ],
      ],
    };
    const messageId = await live.finish(renderConfirm(reply), keyboard);
    const pending: PendingConfirmation = {
      principal,
      chatId: live.chatId,
      messageId,
      title,
      expiresAt: reply.expiresAt.getTime(),
      timer: null,
    };
    this.pending.set(reply.token, pending);
    this.armExpiry(reply.token, pending);
  }

  // ---------------------------------------------------------------------------------------------
  // Buttons

  private async onCallback(query: CallbackQuery): Promise<string> {
    const data = 'data' in query ? query.data : undefined;
    const message = query.message;
    if (!data || !message) {
      await this.answer(query.id);
      return 'callback: nothing to do';
    }
    const chatId = String(message.chat.id);
    const chatTitle = 'title' in message.chat ? message.chat.title : undefined;
    const principal: Principal = {
      platform: 'telegram',
      userId: String(query.from.id),
      chatId,
      displayName: displayName(query.from),
      ...(chatTitle ? { chatTitle } : {}),
    };
    const colon = data.indexOf(':');
    const kind = colon < 0 ? data : data.slice(0, colon);
    const argument = colon < 0 ? '' : data.slice(colon + 1);
    switch (kind) {
      case CONFIRM:
        return this.onConfirm(query.id, principal, message.message_id, argument);
      case CANCEL:
        return this.onCancel(query.id, principal, message.message_id, argument);
      case DETAILS: {
        const details = this.options.output.takeDetails(argument);
        if ('note' in details) {
          await this.answer(query.id, details.note);
          return 'callback: details unavailable';
        }
        await this.answer(query.id);
        await details.post();
        return 'callback: details';
      }
      default:
        await this.answer(query.id, 'This button is no longer active.');
        return 'callback: unknown';
    }
  }

  private async onConfirm(
    queryId: string,
    principal: Principal,
    messageId: number,
    token: string,
  ): Promise<string> {
    const { app, botName, output } = this.options;
    const chatId = principal.chatId!;
    const pending = this.pending.get(token);
    // Hold the expiry while the press is checked, so the prompt is not marked expired under a run.
    if (pending?.timer) clearTimeout(pending.timer);
    const title = pending?.title ?? null;
    const live = output.live(chatId, { messageId });
    let answered = false;
    const answer = async (text?: string, alert = false) => {
      if (answered) return;
      answered = true;
      await this.answer(queryId, text, alert);
    };
    const reply = await app.commands.confirm(principal, token, {
      dedupKey: `telegram:${chatId}:${messageId}`,
      botName,
      hooks: {
        onProgress: (progress) => {
          // The first progress means the command layer took the confirmation: stop the spinner.
          void answer('Sending…');
          live.progress(renderProgress(progress, title));
        },
      },
    });
    if (reply.kind === 'error' && reply.code === 'confirmation_invalid') {
      live.cancel();
      await answer(reply.message, true);
      if (app.commands.confirmationState(principal, token) === 'gone') {
        await this.closeConfirmation(
          token,
          chatId,
          messageId,
          '⌛ This confirmation has expired; nothing was sent.',
        );
        return 'callback: confirmation expired';
      }
      if (pending) this.armExpiry(token, pending);
      return 'callback: confirmation refused';
    }
    this.pending.delete(token);
    await answer();
    await this.respond(live, reply, principal, title);
    return `callback: confirmed ${reply.kind}`;
  }

  private async onCancel(
    queryId: string,
    principal: Principal,
    messageId: number,
    token: string,
  ): Promise<string> {
    if (!this.options.app.commands.cancelConfirmation(principal, token)) {
      await this.answer(queryId, 'That confirmation has expired or belongs to someone else.', true);
      return 'callback: cancel refused';
    }
    await this.answer(queryId, 'Cancelled');
    await this.closeConfirmation(token, principal.chatId!, messageId, '✗ Cancelled; nothing was sent.');
    return 'callback: cancelled';
  }

  private armExpiry(token: string, pending: PendingConfirmation): void {
    const wait = Math.max(0, pending.expiresAt - Date.now());
    pending.timer = setTimeout(() => {
      pending.timer = null;
      if (this.pending.get(token) !== pending || this.closed) return;
      this.options.app.commands.cancelConfirmation(pending.principal, token);
      this.track(null, async () => {
        await this.closeConfirmation(
          token,
          pending.chatId,
          pending.messageId,
          '⌛ Expired; nothing was sent.',
        );
        return 'confirmation expired';
      });
    }, wait);
    pending.timer.unref();
  }

  /** Replace a confirmation prompt (and its buttons) with a final line. */
  private async closeConfirmation(
    token: string,
    chatId: string,
    messageId: number,
    text: string,
  ): Promise<void> {
    const pending = this.pending.get(token);
    if (pending?.timer) clearTimeout(pending.timer);
    this.pending.delete(token);
    await this.options.output.live(chatId, { messageId }).finish(escapeHtml(text));
  }

  private async answer(queryId: string, text?: string, alert = false): Promise<void> {
    try {
      await this.options.api.call('answerCallbackQuery', {
        callback_query_id: queryId,
        ...(text ? { text: text.slice(0, 200), show_alert: alert } : {}),
      });
    } catch (error) {
      // A late answer (Telegram allows a few seconds) only loses the toast; the reply still follows.
      this.options.log.warn({ err: error }, 'could not answer a button press');
    }
  }
}
