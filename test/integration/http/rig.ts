/**
 * The web server wired around an in-process app, as the composition root would wire it: the app's
 * repositories plus the two web repositories, a command layer with the server's links, and a
 * notifier that records what would be said in chat.
 */

import { CommandService } from '../../../src/commands/service.js';
import { ping } from '../../../src/db/index.js';
import { OneTimeTokensRepository } from '../../../src/db/repositories/one-time-tokens.js';
import { WebhookSourcesRepository } from '../../../src/db/repositories/webhook-sources.js';
import type { Clock } from '../../../src/domain/clock.js';
import {
  createHttpServer,
  type HttpLimits,
  type HttpServer,
  type HttpStores,
  type OAuthLinking,
  type ReconcileReport,
  type TradovateExtras,
} from '../../../src/http/index.js';
import type { Notification } from '../../../src/index.js';
import { startTestApp, type TestApp } from '../../helpers/app.js';

export interface HttpRig {
  readonly t: TestApp;
  readonly server: HttpServer;
  /** `http://127.0.0.1:PORT` */
  readonly base: string;
  readonly stores: HttpStores;
  readonly commands: CommandService;
  /** Everything the service would have said in chat, in order. */
  readonly notes: Notification[];
  close(): Promise<void>;
}

export interface RigOptions {
  readonly env?: Record<string, string>;
  readonly limits?: Partial<HttpLimits>;
  readonly trustProxy?: boolean | string | string[];
  readonly clock?: Clock;
  /** Built from the app once it exists (the adapter and OAuth come from the app's config). */
  readonly tradovate?: (t: TestApp) => TradovateExtras | null;
  readonly oauth?: (t: TestApp) => OAuthLinking | null;
  readonly lastReconciliation?: () => ReconcileReport | null;
}

export async function startHttpRig(options: RigOptions = {}): Promise<HttpRig> {
  const t = await startTestApp('pglite', { DEMO: 'off', ...options.env });
  const { app } = t;
  const stores: HttpStores = {
    ...app.stores,
    webhookSources: new WebhookSourcesRepository({ db: app.db }),
    oneTimeTokens: new OneTimeTokensRepository({ db: app.db }),
  };
  const notes: Notification[] = [];
  app.notifier.add({
    notify: async (n) => {
      notes.push(n);
    },
  });
  const clock = options.clock ?? { now: () => new Date() };
  // The command layer is built after the server here, because it takes the server's links.
  let commands: CommandService | null = null;
  const server = createHttpServer({
    stores,
    commands: {
      ownSignal: (...args) => commands!.ownSignal(...args),
      broadcast: (...args) => commands!.broadcast(...args),
      confirm: (...args) => commands!.confirm(...args),
    },
    engine: app.engine,
    notifier: app.notifier,
    brokers: app.brokers,
    tradovate: options.tradovate ? options.tradovate(t) : app.tradovate,
    oauth: options.oauth ? options.oauth(t) : null,
    ping: () => ping(app.db),
    log: app.log,
    clock,
    ...(options.trustProxy !== undefined ? { trustProxy: options.trustProxy } : {}),
    ...(options.limits ? { limits: options.limits } : {}),
    ...(options.lastReconciliation ? { lastReconciliation: options.lastReconciliation } : {}),
  });
  commands = new CommandService({
    stores: app.stores,
    engine: app.engine,
    brokers: app.brokers,
    clock,
    log: app.log.child({ component: 'commands' }),
    confirmAboveAccounts: app.config.CONFIRM_ABOVE_ACCOUNTS,
    links: server.links,
  });
  const base = await server.listen('127.0.0.1', 0);
  return {
    t,
    server,
    base,
    stores,
    commands,
    notes,
    async close() {
      await server.close();
      await t.stop();
    },
  };
}

/** The first URL in a chat reply. */
export function urlIn(text: string): string {
  const match = /https?:\/\/\S+/.exec(text);
  if (!match) throw new Error(`no URL in ${JSON.stringify(text)}`);
  return match[0];
}
