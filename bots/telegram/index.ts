/**
 * The Telegram transport: a telegraf bot over the one command layer. It takes commands in private
 * chats and groups, forwarded alerts, and signal posts in registered groups and channels; replies
 * in HTML with live progress for fan-outs; and delivers the service's notifications to Telegram.
 *
 * Long polling by default; a webhook (served on node:http, secret header checked) when configured.
 * The Bot API base URL is configurable for self-hosted Bot API servers and for tests.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { Telegraf } from 'telegraf';
import { type App, COMMANDS, helpText, type Notifier } from '../../src/index.js';
import { TelegramApi } from './api.js';
import { TelegramHandlers } from './handlers.js';
import { TelegramNotifier } from './notifier.js';
import { TelegramOutput } from './output.js';

export interface TelegramWebhookOptions {
  /** The public https URL Telegram posts updates to; its path is the path served here. */
  readonly url: string;
  /** Sent by Telegram in `X-Telegram-Bot-Api-Secret-Token`; requests without it are refused. */
  readonly secret: string;
  /** Port to listen on (default 8443; 0 picks a free one). */
  readonly port?: number;
  /** Address to listen on (default 127.0.0.1, behind a reverse proxy). */
  readonly host?: string;
}

export interface TelegramOptions {
  readonly token: string;
  /** Bot API base URL (default https://api.telegram.org). */
  readonly apiRoot?: string;
  /** Receive updates by webhook instead of long polling. */
  readonly webhook?: TelegramWebhookOptions;
  /** Least time between two progress edits of one message (default 1,500 ms). */
  readonly progressEditIntervalMs?: number;
}

export interface TelegramTransport {
  /** Stop taking updates, finish the ones in progress, close the webhook server. */
  stop(): Promise<void>;
  /** Already added to `app.notifier`. */
  readonly notifier: Notifier;
  /** The bot's username, as `/cmd@name` addresses it. */
  readonly botName: string;
  /** Where the webhook server listens, in webhook mode. */
  readonly webhookAddress?: { readonly host: string; readonly port: number };
}

/** How often handled updates older than the inbox keeps them are deleted. */
const INBOX_PRUNE_EVERY_MS = 6 * 3600_000;

/** Updates the bot handles; Telegram sends no others. */
const ALLOWED_UPDATES = ['message', 'channel_post', 'callback_query'] as const;

/**
 * Start the Telegram bot for `app`. Resolves once the bot is known to Telegram (getMe), its
 * commands are registered and it receives updates; rejects when the token or the API is wrong.
 */
export async function startTelegram(app: App, options: TelegramOptions): Promise<TelegramTransport> {
  if (options.webhook && !/^[A-Za-z0-9_-]{1,256}$/.test(options.webhook.secret)) {
    // Telegram refuses other secrets in setWebhook; saying so here names the setting at fault.
    throw new Error('the Telegram webhook secret must be 1-256 characters of A-Z, a-z, 0-9, _ and -');
  }
  const log = app.log.child({ component: 'telegram' });
  const bot = new Telegraf(options.token, {
    // Replies go out as API calls, not inside the webhook response, so each one is checked.
    telegram: { ...(options.apiRoot ? { apiRoot: options.apiRoot } : {}), webhookReply: false },
    // A handler returns once its update is recorded; telegraf must not give up on it and confirm
    // the update to Telegram before that (its default is 90 s).
    handlerTimeout: Number.POSITIVE_INFINITY,
  });
  const api = new TelegramApi(bot.telegram, log);
  const me = await api.call('getMe', {});
  bot.botInfo = me;
  const botName = me.username;
  const output = new TelegramOutput({ api, log, minEditIntervalMs: options.progressEditIntervalMs ?? 1500 });
  const handlers = new TelegramHandlers({ app, api, output, log, botName, inbox: `telegram:${me.id}` });
  bot.catch((error, ctx) =>
    log.error({ err: error, updateId: ctx.update.update_id }, 'telegram update failed'),
  );
  bot.use((ctx) => handlers.accept(ctx.update));
  // The command menu is a convenience: a bot whose menu could not be set still takes commands.
  await api
    .call('setMyCommands', { commands: botCommands() })
    .catch((error: unknown) => log.warn({ err: error }, 'could not register the command menu'));

  // What a stopped process took but did not finish runs (or is answered) before anything new.
  await handlers.replay();
  const pruning = setInterval(() => void handlers.prune(), INBOX_PRUNE_EVERY_MS);
  pruning.unref();

  const notifier = new TelegramNotifier(output);
  let server: Server | null = null;
  let polling: Promise<void> | null = null;
  let pollingEnded = false;
  let webhookAddress: { host: string; port: number } | undefined;
  let stopping: Promise<void> | null = null;

  if (options.webhook) {
    const { url, secret } = options.webhook;
    const target = new URL(url);
    const callback = bot.webhookCallback(`${target.pathname}${target.search}`, { secretToken: secret });
    server = createServer((req, res) => {
      const refuse = () => {
        log.warn(
          { method: req.method, path: req.url },
          'refused a webhook request: wrong path or secret token',
        );
        res.writeHead(403).end();
      };
      callback(req, res, refuse).catch((error: unknown) => {
        log.error({ err: error }, 'webhook request failed');
        if (!res.headersSent) res.writeHead(500).end();
      });
    });
    webhookAddress = await listen(server, options.webhook.port ?? 8443, options.webhook.host ?? '127.0.0.1');
    try {
      await api.call('setWebhook', { url, secret_token: secret, allowed_updates: [...ALLOWED_UPDATES] });
    } catch (error) {
      clearInterval(pruning);
      await close(server);
      await handlers.close();
      throw error;
    }
    log.info({ botName, ...webhookAddress }, 'telegram bot receiving updates by webhook');
  } else {
    // launch() resolves only when polling stops; its callback says the bot is up. With botInfo
    // already known, the callback runs before launch() even returns.
    let markUp!: () => void;
    const up = new Promise<void>((resolve) => {
      markUp = resolve;
    });
    const launched = bot.launch({ allowedUpdates: [...ALLOWED_UPDATES] }, () => markUp());
    polling = launched;
    launched.then(
      () => {
        pollingEnded = true;
        log.info('telegram polling stopped');
      },
      (error: unknown) => {
        pollingEnded = true;
        if (!stopping) log.error({ err: error }, 'telegram polling failed; the bot receives no more updates');
      },
    );
    await Promise.race([up, launched]);
    log.info({ botName }, 'telegram bot receiving updates by long polling');
  }
  app.notifier.add(notifier);

  return {
    notifier,
    botName,
    ...(webhookAddress ? { webhookAddress } : {}),
    stop() {
      stopping ??= (async () => {
        clearInterval(pruning);
        notifier.close();
        if (polling) {
          // launch() reports the bot up once getMe is known, before it deletes the webhook and
          // starts polling; telegraf refuses to stop in that gap, so wait for the polling to begin.
          while (!pollingEnded && !stopPolling(bot)) await delay(10);
          await polling.catch(() => {});
        }
        if (server) await close(server);
        await handlers.close();
        log.info('telegram bot stopped');
      })();
      return stopping;
    },
  };
}

/** Stop telegraf's polling; false when it has not begun yet. */
function stopPolling(bot: Telegraf): boolean {
  try {
    bot.stop('shutdown');
    return true;
  } catch {
    return false;
  }
}

/** The command menu: every command with the one-line summary `/help` shows. */
function botCommands(): { command: string; description: string }[] {
  const summaries = new Map<string, string>();
  for (const line of helpText().split('\n')) {
    const m = /^\/([a-z]+): (.+)$/.exec(line);
    if (m) summaries.set(m[1]!, m[2]!);
  }
  return COMMANDS.map((name) => ({
    command: name,
    description: (summaries.get(name) ?? name).slice(0, 256),
  }));
}

function listen(server: Server, port: number, host: string): Promise<{ host: string; port: number }> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address() as AddressInfo;
      resolve({ host: address.address, port: address.port });
    });
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
