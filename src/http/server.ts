/**
 * The web server: TradingView webhook, Tradovate OAuth linking, the dashboard with live updates,
 * and the operations endpoints (`/healthz`, `/readyz`, `/metrics`). Everything it uses arrives in
 * {@link HttpServerOptions}; it builds no infrastructure of its own beyond the HTTP listener.
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import fastifyCookie from '@fastify/cookie';
import fastifyCsrf from '@fastify/csrf-protection';
import fastifyFormbody from '@fastify/formbody';
import fastifyHelmet from '@fastify/helmet';
import fastifyRateLimit from '@fastify/rate-limit';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  LogController,
} from 'fastify';
import type { Broker } from '../brokers/broker.js';
import type { LinkIssuer } from '../commands/service.js';
import { type Clock, systemClock } from '../domain/clock.js';
import type { BrokerName } from '../domain/types.js';
import type { Logger } from '../log.js';
import type { Notifier } from '../ports/notifier.js';
import { DASHBOARD_CSS, DASHBOARD_JS } from './assets.js';
import { registerDashboard } from './dashboard.js';
import { EventHub } from './events.js';
import { messagePage } from './html.js';
import { HttpMetrics } from './metrics.js';
import { registerOAuth } from './oauth.js';
import type {
  HttpCommands,
  HttpEngine,
  HttpStores,
  OAuthLinking,
  ReconcileReport,
  TradovateExtras,
} from './ports.js';
import { registerSignIn } from './session.js';
import { createLinkIssuer } from './tokens.js';
import { registerWebhook } from './webhook.js';

/** Limits and lifetimes; every one has a default. */
export interface HttpLimits {
  /** Webhook requests per source per minute. */
  readonly webhookPerMinute: number;
  /** Sign-in and OAuth requests per client address per minute. */
  readonly signInPerMinute: number;
  /** A webhook is answered by then at the latest, ms (TradingView waits 3 s). */
  readonly answerWithinMs: number;
  /** How long `/link` and `/dashboard` links work, ms. */
  readonly linkTtlMs: number;
  /** How long an OAuth `state` waits for Tradovate's redirect, ms. */
  readonly stateTtlMs: number;
  /** How long a dashboard session lasts, ms. */
  readonly sessionTtlMs: number;
  /** Largest webhook body, bytes. */
  readonly webhookBodyBytes: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  webhookPerMinute: 60,
  signInPerMinute: 20,
  answerWithinMs: 2_000,
  linkTtlMs: 10 * 60_000,
  stateTtlMs: 10 * 60_000,
  sessionTtlMs: 12 * 60 * 60_000,
  webhookBodyBytes: 64 * 1024,
};

export interface HttpServerOptions {
  /** `app.stores` plus the `webhookSources` and `oneTimeTokens` repositories. */
  readonly stores: HttpStores;
  readonly commands: HttpCommands;
  readonly engine: HttpEngine;
  /** Outcomes of webhook alerts and OAuth links are told in chat through it. */
  readonly notifier: Notifier;
  /** The brokers in use (named by `/readyz`). */
  readonly brokers: ReadonlyMap<BrokerName, Broker>;
  /** The Tradovate adapter's extras; null without Tradovate. */
  readonly tradovate?: TradovateExtras | null;
  /** Tradovate OAuth linking; null turns `/link` off. */
  readonly oauth?: OAuthLinking | null;
  /** Database readiness (`ping(app.db)`). */
  readonly ping: () => Promise<boolean>;
  readonly log: Logger;
  /**
   * The URL people and Tradovate reach this server at (PUBLIC_URL), used in links and as the OAuth
   * redirect base. Default: the address it listens on.
   */
  readonly publicUrl?: string;
  readonly clock?: Clock;
  /**
   * Fastify's `trustProxy`: behind a reverse proxy, which hops to trust for the client address the
   * webhook allowlist checks. Default false (the socket's address).
   */
  readonly trustProxy?: boolean | string | string[];
  /**
   * Key that signs session and CSRF cookies. Default: random per process, so sessions end when the
   * process restarts; give a stable one (derived from the encryption key) to keep them.
   */
  readonly cookieSecret?: string | Buffer;
  /** The reconciliation job's last cycle; the dashboard shows "no cycle yet" without it. */
  readonly lastReconciliation?: () => ReconcileReport | null | Promise<ReconcileReport | null>;
  readonly limits?: Partial<HttpLimits>;
}

export interface HttpServer {
  /** The links `/link` and `/dashboard` hand out, for `CommandService`'s `links` option. */
  readonly links: LinkIssuer;
  /** The public base URL (PUBLIC_URL, else the listening address once listening). */
  readonly url: string;
  /** Start listening; resolves to the listening address as a URL. */
  listen(host: string, port: number): Promise<string>;
  /** Stop taking requests, end live streams, and wait for fan-outs started by webhooks. */
  close(): Promise<void>;
}

/** Build the web server. Nothing listens until {@link HttpServer.listen}. */
export function createHttpServer(options: HttpServerOptions): HttpServer {
  const limits: HttpLimits = { ...DEFAULT_HTTP_LIMITS, ...options.limits };
  const clock = options.clock ?? systemClock;
  const log = options.log.child({ component: 'http' });
  const tradovate = options.tradovate ?? null;
  const oauth = options.oauth ?? null;
  const { stores } = options;
  let listening: string | null = null;
  let closing = false;
  const publicUrl = (): string => {
    const base = options.publicUrl ?? listening;
    if (!base) throw new Error('the HTTP server has no public URL before it listens; set publicUrl');
    return base.replace(/\/+$/, '');
  };
  const secure = (options.publicUrl ?? '').startsWith('https:');
  const cookieSecret = options.cookieSecret ?? randomBytes(32);

  const app: FastifyInstance = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    // Request lines would log URLs, and these URLs carry tokens: the hook below logs route patterns.
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: options.trustProxy ?? false,
    bodyLimit: 256 * 1024,
    forceCloseConnections: true,
  });

  const metrics = new HttpMetrics({ stores, tradovate, log });
  const hub = new EventHub(log);
  const inflight = new Set<Promise<unknown>>();
  const unsubscribe = options.engine.onFanout((summary, envelope) => {
    metrics.fanout(summary, envelope);
    hub.fanout(summary, envelope);
  });

  app.decorateRequest('viewer', null);
  app.register(fastifyCookie, { secret: cookieSecret });
  app.register(fastifyFormbody);
  app.register(fastifyHelmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
        objectSrc: ["'none'"],
        ...(secure ? { upgradeInsecureRequests: [] } : {}),
      },
    },
    hsts: secure,
    referrerPolicy: { policy: 'no-referrer' },
  });
  app.register(fastifyCsrf, {
    sessionPlugin: '@fastify/cookie',
    cookieOpts: { signed: true, httpOnly: true, sameSite: 'strict', path: '/', secure },
    // Tokens are bound to the signed-in user, so one user's token is worthless in another's session.
    csrfOpts: { hmacKey: Buffer.from(cookieSecret), userInfo: true },
    getUserInfo: (request) => request.viewer?.id ?? '',
  });
  app.register(fastifyRateLimit, { global: false });

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const quiet =
      route === '/metrics' || route === '/healthz' || route === '/readyz' || route.startsWith('/assets/');
    const line = {
      method: request.method,
      route,
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime),
    };
    if (quiet) log.debug(line, 'request');
    else log.info(line, 'request');
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500;
    if (status >= 500) log.error({ err: error, route: request.routeOptions.url }, 'request failed');
    const message = status >= 500 ? 'Something went wrong on our side.' : error.message;
    // Browsers get a page (a form with a stale CSRF token, a rate-limited sign-in); clients get JSON.
    if (/text\/html/.test(request.headers.accept ?? '')) {
      return reply
        .code(status)
        .type('text/html; charset=utf-8')
        .send(messagePage(`Error ${status}`, message));
    }
    return reply.code(status).send({ error: error.code ?? 'error', message });
  });

  const signInLimit = { max: limits.signInPerMinute, timeWindow: 60_000 };
  app.register(async (routes) => {
    routes.get('/assets/dashboard.css', async (_request, reply) =>
      reply
        .type('text/css; charset=utf-8')
        .header('cache-control', 'public, max-age=300')
        .send(DASHBOARD_CSS),
    );
    routes.get('/assets/dashboard.js', async (_request, reply) =>
      reply
        .type('text/javascript; charset=utf-8')
        .header('cache-control', 'public, max-age=300')
        .send(DASHBOARD_JS),
    );
    routes.get('/healthz', async () => ({ status: 'ok' }));
    routes.get('/readyz', async (_request, reply) => {
      const database = await options.ping();
      const credentials = tradovate
        ? (await stores.credentials.list()).filter((c) => c.broker === 'tradovate')
        : [];
      const brokers: Record<string, unknown> = {};
      for (const name of options.brokers.keys()) brokers[name] = 'ok';
      if (tradovate) {
        brokers.tradovate = {
          credentials: credentials.length,
          locked: credentials.filter((c) => tradovate.credentialState(c.id) === 'locked').length,
          needsReauth: credentials.filter((c) => tradovate.credentialState(c.id) === 'needs_reauth').length,
          openSockets: tradovate.transportStats().openSockets,
        };
      }
      const ready = database && !closing;
      return reply.code(ready ? 200 : 503).send({
        status: ready ? 'ready' : 'not_ready',
        database: database ? 'ok' : 'down',
        closing,
        brokers,
      });
    });
    routes.get('/metrics', async (_request, reply) =>
      reply.type(metrics.contentType).send(await metrics.text()),
    );
    registerSignIn(routes, {
      stores,
      clock,
      log,
      sessionTtlMs: limits.sessionTtlMs,
      secure,
      rateLimit: signInLimit,
    });
    registerOAuth(routes, {
      stores,
      oauth,
      tradovate,
      notifier: options.notifier,
      clock,
      log,
      redirectUri: () => `${publicUrl()}/oauth/callback`,
      stateTtlMs: limits.stateTtlMs,
      secure,
      rateLimit: signInLimit,
    });
    registerWebhook(routes, {
      stores,
      commands: options.commands,
      notifier: options.notifier,
      metrics,
      clock,
      log,
      answerWithinMs: limits.answerWithinMs,
      bodyLimit: limits.webhookBodyBytes,
      perMinute: limits.webhookPerMinute,
      inflight,
    });
    registerDashboard(routes, {
      stores,
      tradovate,
      clock,
      log,
      hub,
      publicUrl,
      ...(options.lastReconciliation ? { lastReconciliation: options.lastReconciliation } : {}),
    });
  });

  const links = createLinkIssuer({
    tokens: stores.oneTimeTokens,
    publicUrl,
    oauthEnabled: oauth !== null && tradovate !== null,
    clock,
    ttlMs: limits.linkTtlMs,
  });

  return {
    links,
    get url() {
      return publicUrl();
    },
    async listen(host, port) {
      await app.listen({ host, port });
      const address = app.server.address() as AddressInfo;
      const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      listening = `http://${shown}:${address.port}`;
      log.info({ url: listening, publicUrl: options.publicUrl ?? listening }, 'web server listening');
      return listening;
    },
    async close() {
      if (closing) return;
      closing = true;
      unsubscribe();
      hub.close();
      await app.close();
      // Answers went out before these fan-outs finished; let them finish and report.
      await Promise.allSettled([...inflight]);
      metrics.close();
      log.info('web server closed');
    },
  };
}
