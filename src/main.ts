/**
 * Process entry: configuration, logger, the app, the transports, and a graceful shutdown.
 * The only file in `src/` that may import `bots/`.
 */
import 'dotenv/config';
import { ConsoleTransport } from '../bots/console/console.js';
import { startDiscord } from '../bots/discord/index.js';
import { startTelegram } from '../bots/telegram/index.js';
import { createApp, DatabaseInUse } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { createLogger } from './log.js';

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\nSee .env.example for every setting and its default.\n`);
      process.exit(2);
    }
    throw error;
  }
  const interactive = config.CONSOLE === 'on' || (config.CONSOLE === 'auto' && process.stdin.isTTY === true);
  // With the console on stdout, log lines go to stderr so they do not break the prompt.
  const log = createLogger({
    level: config.LOG_LEVEL,
    ...(interactive ? { destination: process.stderr } : {}),
  });
  const app = await createApp({ config, log });

  const consoleTransport =
    interactive && app.embedded
      ? new ConsoleTransport({ commands: app.commands, input: process.stdin, output: process.stdout, log })
      : null;
  consoleTransport?.start();
  const stops: (() => Promise<void>)[] = [];
  const web = await app.http.listen(config.HTTP_HOST, config.HTTP_PORT);
  log.info({ url: web }, 'web server listening (dashboard: /dashboard in chat gives a sign-in link)');
  if (config.DISCORD_TOKEN) {
    const discord = await startDiscord(app, {
      token: config.DISCORD_TOKEN,
      ...(config.DISCORD_API_ROOT ? { apiRoot: config.DISCORD_API_ROOT } : {}),
      ...(config.DISCORD_GUILD_ID ? { guildId: config.DISCORD_GUILD_ID } : {}),
    });
    stops.push(discord.stop);
    log.info({ guild: config.DISCORD_GUILD_ID ?? 'global commands' }, 'discord bot started');
  }
  if (config.TELEGRAM_BOT_TOKEN) {
    const webhookUrl = config.TELEGRAM_WEBHOOK_URL;
    const telegram = await startTelegram(app, {
      token: config.TELEGRAM_BOT_TOKEN,
      ...(config.TELEGRAM_API_ROOT ? { apiRoot: config.TELEGRAM_API_ROOT } : {}),
      ...(webhookUrl ? { webhook: { url: webhookUrl, secret: config.TELEGRAM_WEBHOOK_SECRET! } } : {}),
    });
    stops.push(telegram.stop);
    log.info(
      { bot: telegram.botName, mode: webhookUrl ? 'webhook' : 'long polling' },
      'telegram bot started',
    );
  }
  app.jobs.start();
  if (!consoleTransport && stops.length === 0) {
    log.info(
      app.embedded
        ? `running headless: stdin is not a terminal, so the console is off. Run \`npm start\` in a terminal, set CONSOLE=on, or use the web server at ${web}.`
        : 'running headless with PostgreSQL: reach the service through the chat bots.',
    );
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping: no new commands; finishing what is in flight');
    const timer = setTimeout(() => {
      log.error('shutdown took too long; exiting');
      process.exit(1);
    }, 30_000);
    timer.unref();
    await consoleTransport?.stop();
    for (const stopTransport of stops)
      await stopTransport().catch((error) => log.warn({ err: error }, 'stop failed'));
    await app.close();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  if (consoleTransport) process.stdin.on('end', () => void stop('stdin closed'));
}

main().catch((error) => {
  if (error instanceof DatabaseInUse) {
    process.stderr.write(`tradecast did not start: ${error.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`tradecast failed to start: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
