/**
 * The TradingView webhook: `POST /webhooks/tradingview/:token`. TradingView gives up on an answer
 * after 3 seconds and never retries, so the request only checks, parses and journals: it answers 202
 * with the signal id as soon as the engine has recorded the signal and journaled its orders, and the
 * fan-out goes on after the answer. The outcome goes to the source's report destination in chat.
 *
 * The source's owner is the principal: a source without a channel trades the owner's accounts
 * (`ownSignal`), a source with a signal channel broadcasts to its subscribers (`broadcast`, so the
 * owner must be one of the channel's providers). The command layer authorizes both as usual.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { CommandReply } from '../commands/types.js';
import type { WebhookSource } from '../db/repositories/types.js';
import { parseAlert } from '../domain/alerts.js';
import type { Clock } from '../domain/clock.js';
import type { Principal, Signal } from '../domain/types.js';
import type { SubmitHooks } from '../engine/engine.js';
import { alertDedupKeys, type DedupKeys } from '../engine/idempotency.js';
import type { FanoutProgress } from '../engine/summary.js';
import type { Logger } from '../log.js';
import { type Destination, type Notifier, privateDestinations } from '../ports/notifier.js';
import type { HttpMetrics } from './metrics.js';
import type { HttpCommands, HttpStores } from './ports.js';
import { hashToken, sameHash } from './tokens.js';
import { ipAllowed, parseWebhookToken } from './webhook-sources.js';

export interface WebhookDeps {
  readonly stores: Pick<HttpStores, 'webhookSources' | 'channels' | 'signals' | 'users'>;
  readonly commands: HttpCommands;
  readonly notifier: Notifier;
  readonly metrics: HttpMetrics;
  readonly clock: Clock;
  readonly log: Logger;
  /** Answer by then even if the engine has not recorded the signal yet, ms (under TradingView's 3 s). */
  readonly answerWithinMs: number;
  readonly bodyLimit: number;
  /** Requests per source per minute. */
  readonly perMinute: number;
  /** Fan-outs still running after their answer; the server waits for them when closing. */
  readonly inflight: Set<Promise<unknown>>;
}

type Answer = { readonly status: number; readonly body: Record<string, unknown> };

/** What can come back first: the engine's intake, the command layer's reply, or the deadline. */
type First =
  | { readonly kind: 'accepted'; readonly signalId: string }
  | { readonly kind: 'reply'; readonly reply: CommandReply }
  | { readonly kind: 'failed'; readonly error: unknown }
  | { readonly kind: 'deadline' };

export function registerWebhook(app: FastifyInstance, deps: WebhookDeps): void {
  // Own scope: the body is read as text whatever its content type, so JSON, plain text and
  // key=value alerts all reach the one alert parser, which names what is wrong with a bad body.
  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      '*',
      { parseAs: 'string', bodyLimit: deps.bodyLimit },
      (_request, body, done) => done(null, body),
    );
    scope.post<{ Params: { token: string } }>(
      '/webhooks/tradingview/:token',
      {
        config: {
          rateLimit: {
            max: deps.perMinute,
            timeWindow: 60_000,
            // TradingView posts from four shared addresses, so the limit is per URL token, not per
            // address; keyed by the whole token, so guessing at a source cannot use up its budget.
            keyGenerator: (request: FastifyRequest) =>
              `webhook:${hashToken((request.params as { token: string }).token).slice(0, 32)}`,
          },
        },
      },
      async (request, reply) => {
        const started = performance.now();
        const answer = await handle(deps, request);
        deps.metrics.webhookAnswered(answer.status, (performance.now() - started) / 1000);
        return reply.code(answer.status).header('cache-control', 'no-store').send(answer.body);
      },
    );
  });
}

async function authenticate(deps: WebhookDeps, token: string): Promise<WebhookSource | null> {
  const parts = parseWebhookToken(token);
  if (!parts) return null;
  const source = await deps.stores.webhookSources.get(parts.sourceId);
  // Hash first, then compare the hashes in constant time: the comparison leaks nothing about the secret.
  const presented = hashToken(parts.secret);
  if (!source || !sameHash(presented, source.tokenHash) || !source.enabled) return null;
  return source;
}

async function handle(
  deps: WebhookDeps,
  request: FastifyRequest<{ Params: { token: string } }>,
): Promise<Answer> {
  const { log, clock } = deps;
  const source = await authenticate(deps, request.params.token);
  if (!source)
    return { status: 401, body: { error: 'unauthorized', message: 'unknown or disabled webhook token' } };
  if (!ipAllowed(source.allowedIps, request.ip)) {
    log.warn({ sourceId: source.id, ip: request.ip }, 'webhook from an address not on the allowlist');
    return {
      status: 403,
      body: { error: 'address_not_allowed', message: `${request.ip} may not post to this webhook` },
    };
  }
  const type = (request.headers['content-type'] ?? '').toLowerCase();
  if (type !== '' && !/^(application\/json|text\/)/.test(type)) {
    return {
      status: 415,
      body: { error: 'unsupported_media_type', message: 'send application/json or text/plain' },
    };
  }
  const text = typeof request.body === 'string' ? request.body : '';
  const parsed = parseAlert(text);
  if (!parsed.ok) {
    log.info(
      { sourceId: source.id, code: parsed.error.code, problem: parsed.error.message },
      'webhook alert refused',
    );
    return {
      status: 400,
      body: { error: parsed.error.code, message: parsed.error.message, usage: parsed.error.usage },
    };
  }
  const receivedAt = clock.now();
  await deps.stores.webhookSources.touch(source.id, receivedAt);
  const keys = alertDedupKeys(`webhook:${source.id}`, text, receivedAt);
  return intake(deps, source, parsed.value, keys);
}

/** Start the command and answer at the first of: orders journaled, a reply, the deadline. */
async function intake(
  deps: WebhookDeps,
  source: WebhookSource,
  signal: Signal,
  keys: DedupKeys,
): Promise<Answer> {
  const { log } = deps;
  let onAccepted: (signalId: string) => void = () => {};
  const accepted = new Promise<First>((resolve) => {
    onAccepted = (signalId) => resolve({ kind: 'accepted', signalId });
  });
  const destinations = lazy(() => reportDestinations(deps, source));
  const hooks: SubmitHooks = {
    onProgress: (progress: FanoutProgress) => {
      // The engine's first report comes right after the orders are journaled: that is the intake.
      onAccepted(progress.signalId);
      if (progress.done > 0 && progress.done < progress.total) void report(deps, destinations, { progress });
    },
  };
  const running = execute(deps, source, signal, keys, hooks);
  const settled = running.then(
    (reply): First => ({ kind: 'reply', reply }),
    (error: unknown): First => ({ kind: 'failed', error }),
  );
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<First>((resolve) => {
    timer = setTimeout(() => resolve({ kind: 'deadline' }), deps.answerWithinMs);
  });
  const first = await Promise.race([accepted, settled, deadline]);
  clearTimeout(timer);

  // The rest of the fan-out, and its report, happen after the answer.
  const after = settled.then(async (last) => {
    if (last.kind === 'failed') {
      log.error({ err: last.error, sourceId: source.id }, 'webhook signal failed');
      await report(deps, destinations, {
        text: `Alert from ${source.label} failed inside tradecast; see the log.`,
      });
    } else if (last.kind === 'reply') {
      await report(deps, destinations, { reply: last.reply, source });
    }
  });
  deps.inflight.add(after);
  void after.finally(() => deps.inflight.delete(after));

  switch (first.kind) {
    case 'accepted':
      return { status: 202, body: { status: 'accepted', signalId: first.signalId } };
    case 'deadline': {
      // Still planning: answer before TradingView gives up, with the id if the signal is recorded.
      const recorded = await deps.stores.signals.findByDedupKey(keys.dedupKey);
      log.warn(
        { sourceId: source.id, signalId: recorded?.id ?? null },
        'answered a webhook before its intake finished',
      );
      return { status: 202, body: { status: 'accepted', signalId: recorded?.id ?? null } };
    }
    case 'failed':
      log.error({ err: first.error, sourceId: source.id }, 'webhook signal failed before the answer');
      return { status: 500, body: { error: 'internal', message: 'the signal could not be taken in' } };
    case 'reply':
      return answerFor(first.reply);
  }
}

/** The HTTP answer for a reply that came back before the intake point. */
function answerFor(reply: CommandReply): Answer {
  switch (reply.kind) {
    case 'fanout':
      return reply.duplicate
        ? {
            status: 200,
            body: { status: 'duplicate', signalId: reply.summary.duplicateOf ?? reply.summary.signalId },
          }
        : { status: 202, body: { status: 'done', signalId: reply.summary.signalId } };
    case 'denied':
      return { status: 403, body: { error: reply.denial.code, message: reply.denial.message } };
    case 'usage':
      return { status: 400, body: { error: reply.error.code, message: reply.error.message } };
    case 'error':
      return { status: 422, body: { error: reply.code, message: reply.message } };
    default:
      return { status: 500, body: { error: 'internal', message: `unexpected reply ${reply.kind}` } };
  }
}

async function execute(
  deps: WebhookDeps,
  source: WebhookSource,
  signal: Signal,
  keys: DedupKeys,
  hooks: SubmitHooks,
): Promise<CommandReply> {
  const principal: Principal = { platform: 'webhook', userId: source.id, displayName: source.label };
  const delivery = {
    dedupKey: keys.dedupKey,
    priorDedupKeys: keys.priorDedupKeys,
    source: 'webhook' as const,
    hooks,
  };
  if (source.channelId) {
    const channel = await deps.stores.channels.get(source.channelId);
    if (!channel)
      return { kind: 'error', code: 'not_signal_channel', message: "The source's channel is gone." };
    return deps.commands.broadcast(
      principal,
      { platform: channel.platform, chatId: channel.chatId },
      signal,
      delivery,
    );
  }
  const reply = await deps.commands.ownSignal(principal, signal, delivery);
  // Chat asks before touching many accounts; an alert source was set up by its owner to trade
  // unattended, so that setup is the confirmation.
  if (reply.kind === 'confirm') {
    return deps.commands.confirm(principal, reply.token, {
      dedupKey: keys.dedupKey,
      priorDedupKeys: keys.priorDedupKeys,
      source: 'webhook',
      hooks,
    });
  }
  return reply;
}

/**
 * Where a source's outcomes go, as a chat reply would go: a channel source's summary goes to its
 * signal channel (where a signal posted in chat is answered; the command layer itself reports
 * broadcasts to the channel's report channel), another source's to its owner privately on each
 * linked chat identity. A report channel set on the source takes the owner's place, and for a channel
 * source is told as well, unless it is the one the command layer already tells.
 */
async function reportDestinations(deps: WebhookDeps, source: WebhookSource): Promise<Destination[]> {
  const { channels, users } = deps.stores;
  const report = source.reportChannelId ? await channels.get(source.reportChannelId) : null;
  const toReport: Destination[] = report ? [{ platform: report.platform, chatId: report.chatId }] : [];
  const channel = source.channelId ? await channels.get(source.channelId) : null;
  if (channel) {
    const extra = report && report.id !== channel.reportChannelId ? toReport : [];
    return [{ platform: channel.platform, chatId: channel.chatId }, ...extra];
  }
  if (report) return toReport;
  return privateDestinations(users, source.ownerUserId);
}

type Report =
  | { readonly progress: FanoutProgress }
  | { readonly reply: CommandReply; readonly source: WebhookSource }
  | { readonly text: string };

async function report(
  deps: WebhookDeps,
  destinations: () => Promise<Destination[]>,
  what: Report,
): Promise<void> {
  try {
    for (const to of await destinations()) {
      if ('progress' in what) {
        await deps.notifier.notify({ type: 'fanout_progress', to, progress: what.progress });
      } else if ('text' in what) {
        await deps.notifier.notify({ type: 'text', to, text: what.text });
      } else {
        const { reply, source } = what;
        if (reply.kind === 'fanout') {
          // A repeated delivery executes nothing and is not news in chat.
          if (!reply.duplicate)
            await deps.notifier.notify({ type: 'fanout_summary', to, summary: reply.summary });
        } else {
          const why =
            reply.kind === 'denied'
              ? reply.denial.message
              : reply.kind === 'error'
                ? reply.message
                : reply.kind === 'usage'
                  ? reply.error.message
                  : `unexpected reply ${reply.kind}`;
          await deps.notifier.notify({
            type: 'text',
            to,
            text: `Alert from ${source.label} was not executed: ${why}`,
          });
        }
      }
    }
  } catch (error) {
    deps.log.warn({ err: error }, 'could not report a webhook outcome');
  }
}

function lazy<T>(make: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => {
    value ??= make();
    return value;
  };
}
