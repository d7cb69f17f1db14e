/**
 * The Discord transport: a discord.js client that registers the slash commands, hands interactions
 * and signal-channel messages to the command layer, renders the replies, and delivers the service's
 * notifications to Discord.
 */
import { Client, Events, GatewayIntentBits, Routes } from 'discord.js';
import type { App, Notifier } from '../../src/index.js';
import { commandDefinitions } from './commands.js';
import { Handlers } from './handlers.js';
import { DiscordNotifier } from './notifier.js';
import { RecentSummaries } from './summaries.js';

export interface DiscordOptions {
  /** The bot token (with or without the `Bot ` prefix). */
  readonly token: string;
  /**
   * Base of the REST API, e.g. `http://127.0.0.1:8080/api` for a proxy or a test server; the gateway
   * address is read from it too (`GET /gateway/bot`). Discord's own when unset.
   */
  readonly apiRoot?: string;
  /** Register the commands in this server only (they appear at once); globally when unset. */
  readonly guildId?: string;
  /** The application to register commands for; the one the bot logs in as when unset. */
  readonly applicationId?: string;
  /** Post a public copy of each executed fan-out's summary where the command was run (default true). */
  readonly publicSummaries?: boolean;
  /** Milliseconds between progress edits of a running fan-out (default 1000). */
  readonly progressIntervalMs?: number;
}

export interface DiscordTransport {
  /** Delivers notifications addressed to Discord; already added to `app.notifier`. */
  readonly notifier: Notifier;
  /** Stop taking events, let the ones in progress finish, and log out. */
  stop(): Promise<void>;
}

/**
 * Log in, register the slash commands, and start handling interactions and signal-channel messages.
 * Resolves once the client is ready and the commands are registered.
 */
export async function startDiscord(app: App, options: DiscordOptions): Promise<DiscordTransport> {
  const log = app.log.child({ component: 'discord' });
  const client = new Client({
    intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent],
    // Account and user names end up in replies; nothing the bot posts may ping anyone.
    allowedMentions: { parse: [], repliedUser: false },
    ...(options.apiRoot ? { rest: { api: options.apiRoot } } : {}),
  });
  const handlers = new Handlers({
    app,
    log,
    summaries: new RecentSummaries(),
    publicSummaries: options.publicSummaries ?? true,
    ...(options.progressIntervalMs !== undefined ? { progressIntervalMs: options.progressIntervalMs } : {}),
  });

  let stopping = false;
  const inFlight = new Set<Promise<void>>();
  const track = (what: string, run: () => Promise<void>) => {
    if (stopping) return;
    const task = run()
      .catch((error: unknown) => log.error({ err: error, event: what }, 'discord event handler failed'))
      .finally(() => inFlight.delete(task));
    inFlight.add(task);
  };

  client.on(Events.InteractionCreate, (interaction) =>
    track('interaction', () => handlers.interaction(interaction)),
  );
  client.on(Events.MessageCreate, (message) => track('message', () => handlers.message(message)));
  client.on(Events.ShardReconnecting, (shard) => {
    // Logging out closes the connection too; that is no reconnect.
    if (!stopping) log.warn({ shard }, 'gateway connection lost; reconnecting');
  });
  client.on(Events.ShardResume, (shard, replayed) =>
    log.info({ shard, replayed }, 'gateway session resumed'),
  );
  // A resumed session replays what it missed; a new one replays nothing, so the history is read.
  // From the new session's READY, before any message it delivers: they wait for the reading back.
  let started = false;
  const catchUp = () => track('catch-up', () => handlers.catchUp(client as Client<true>, () => !stopping));
  client.on(Events.Raw, (packet: { t?: string | null }) => {
    if (!started || packet.t !== 'READY') return;
    log.warn('new gateway session; reading the signal channels for messages it missed');
    catchUp();
  });
  client.on(Events.ShardDisconnect, (event, shard) =>
    log.error({ shard, code: event.code }, 'gateway closed the connection for good'),
  );
  client.on(Events.ShardError, (error, shard) => log.warn({ err: error, shard }, 'gateway connection error'));
  client.on(Events.Error, (error) => log.error({ err: error }, 'discord client error'));
  client.on(Events.Warn, (message) => log.warn({ detail: message }, 'discord client warning'));

  // Listen before logging in: the ready event can come before login() resolves.
  const ready = new Promise<void>((resolve) => client.once(Events.ClientReady, () => resolve()));
  try {
    await client.login(options.token);
    await ready;
    const applicationId = options.applicationId ?? client.application?.id;
    if (!applicationId) throw new Error('discord: the gateway did not say which application the bot is');
    const body = commandDefinitions();
    await client.rest.put(
      options.guildId
        ? Routes.applicationGuildCommands(applicationId, options.guildId)
        : Routes.applicationCommands(applicationId),
      { body },
    );
    log.info(
      {
        user: client.user?.tag,
        commands: body.length,
        scope: options.guildId ? `guild ${options.guildId}` : 'global',
      },
      'discord bot ready; slash commands registered',
    );
  } catch (error) {
    await client.destroy();
    throw error;
  }

  const notifier = new DiscordNotifier({ client, log, active: () => !stopping });
  app.notifier.add(notifier);
  started = true;
  catchUp();

  return {
    notifier,
    async stop() {
      if (stopping) return;
      stopping = true;
      await Promise.allSettled([...inFlight]);
      await client.destroy();
      log.info('discord bot stopped');
    },
  };
}
