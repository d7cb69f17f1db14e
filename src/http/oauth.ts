/**
 * Linking a Tradovate login through OAuth. `/link` in chat hands out `/oauth/start?t=<token>`; that
 * page sends the browser to Tradovate's authorize page with a fresh `state` bound to the user. The
 * callback spends the state (single use, expiring, stored hashed), exchanges the code, stores the
 * token encrypted as an `oauth` credential, lists the login's accounts through the adapter and makes
 * them the user's. Re-linking a login we already have updates that credential instead of adding one.
 *
 * The start link is not spent by opening it: chat apps fetch links to build previews. It is spent
 * when a linking completes, so it links at most once. The state is also bound to the browser that
 * opened the link (a signed cookie), so an authorize URL sent to someone else links nothing: without
 * that, a person could be tricked into authorizing their Tradovate login for the sender's user.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Credential } from '../db/repositories/types.js';
import type { Clock } from '../domain/clock.js';
import type { Logger } from '../log.js';
import type { Notifier } from '../ports/notifier.js';
import { html, messagePage } from './html.js';
import type { HttpStores, OAuthLinking, OAuthTokenSet, TradovateExtras } from './ports.js';
import { hashToken, newToken, sameHash, TOKEN_SHAPE } from './tokens.js';

export interface OAuthDeps {
  readonly stores: Pick<HttpStores, 'oneTimeTokens' | 'credentials' | 'accounts' | 'audit'>;
  readonly oauth: OAuthLinking | null;
  readonly tradovate: TradovateExtras | null;
  readonly notifier: Notifier;
  readonly clock: Clock;
  readonly log: Logger;
  /** The redirect URI registered with Tradovate: the public URL plus `/oauth/callback`. */
  readonly redirectUri: () => string;
  readonly stateTtlMs: number;
  /** Whether cookies need `Secure` (the public URL is https). */
  readonly secure: boolean;
  readonly rateLimit: { readonly max: number; readonly timeWindow: number };
}

/** Holds the hash of the state this browser started; only sent to `/oauth/*`. */
const STATE_COOKIE = 'tc_oauth';

const HTML = 'text/html; charset=utf-8';

function refuse(reply: FastifyReply, status: number, title: string, message: string) {
  return reply.code(status).type(HTML).header('cache-control', 'no-store').send(messagePage(title, message));
}

export function registerOAuth(app: FastifyInstance, deps: OAuthDeps): void {
  const { stores, clock, log } = deps;
  const config = { rateLimit: deps.rateLimit };

  app.get<{ Querystring: { t?: string } }>('/oauth/start', { config }, async (request, reply) => {
    const { oauth, tradovate } = deps;
    if (!oauth || !tradovate) {
      return refuse(
        reply,
        503,
        'Linking is off',
        'Linking Tradovate logins is not configured on this server.',
      );
    }
    const token = request.query.t ?? '';
    const now = clock.now();
    const link = TOKEN_SHAPE.test(token)
      ? await stores.oneTimeTokens.find('oauth_link', hashToken(token), now)
      : null;
    if (!link) {
      return refuse(
        reply,
        400,
        'Link not valid',
        'This link is invalid, already used or expired. Send /link to the bot for a new one.',
      );
    }
    const state = newToken();
    await stores.oneTimeTokens.issue({
      purpose: 'oauth_state',
      tokenHash: hashToken(state),
      userId: link.userId,
      requestedBy: link.requestedBy,
      parentId: link.id,
      expiresAt: new Date(now.getTime() + deps.stateTtlMs),
    });
    // Lax: Tradovate's redirect back is a top-level navigation, which carries Lax cookies.
    reply.setCookie(STATE_COOKIE, hashToken(state), {
      signed: true,
      httpOnly: true,
      sameSite: 'lax',
      secure: deps.secure,
      path: '/oauth',
      maxAge: Math.floor(deps.stateTtlMs / 1000),
    });
    const target = new URL(oauth.authorizeUrl);
    target.searchParams.set('response_type', 'code');
    target.searchParams.set('client_id', oauth.clientId);
    target.searchParams.set('redirect_uri', deps.redirectUri());
    target.searchParams.set('state', state);
    return reply.header('cache-control', 'no-store').redirect(target.toString(), 302);
  });

  app.get<{ Querystring: { code?: string; state?: string; error?: string; error_description?: string } }>(
    '/oauth/callback',
    { config },
    async (request, reply) => {
      const { oauth, tradovate } = deps;
      if (!oauth || !tradovate) {
        return refuse(
          reply,
          503,
          'Linking is off',
          'Linking Tradovate logins is not configured on this server.',
        );
      }
      const { code, state, error } = request.query;
      const now = clock.now();
      const started = request.unsignCookie(request.cookies[STATE_COOKIE] ?? '');
      const sameBrowser =
        Boolean(state) &&
        started.valid &&
        started.value !== null &&
        sameHash(started.value, hashToken(state!));
      const spent =
        sameBrowser && state && TOKEN_SHAPE.test(state)
          ? await stores.oneTimeTokens.consume('oauth_state', hashToken(state), now)
          : null;
      if (sameBrowser) reply.clearCookie(STATE_COOKIE, { path: '/oauth' });
      if (!spent) {
        log.warn(
          { ip: request.ip, sameBrowser },
          'OAuth callback refused: state invalid, used, expired or started in another browser',
        );
        return refuse(
          reply,
          400,
          'Linking refused',
          'This sign-in answer does not match a linking started in this browser, or it was already used or has expired. Open the link from /link in this browser and start again.',
        );
      }
      if (error || !code) {
        return refuse(
          reply,
          400,
          'Not linked',
          `Tradovate did not authorize tradecast (${error ?? 'no code'}). Send /link to the bot to try again.`,
        );
      }
      if (spent.parentId && !(await stores.oneTimeTokens.consumeById(spent.parentId, now))) {
        return refuse(
          reply,
          400,
          'Link already used',
          'This link already linked a login. Send /link for a new one.',
        );
      }
      const exchanged = await oauth.exchangeCode({ code, redirectUri: deps.redirectUri() });
      if (!exchanged.ok) {
        log.warn({ userId: spent.userId, error: exchanged.error.error }, 'OAuth code exchange refused');
        return refuse(
          reply,
          400,
          'Not linked',
          `Tradovate refused the authorization (${exchanged.error.error}). Send /link to the bot to try again.`,
        );
      }
      const linked = await link(deps, oauth, tradovate, spent.userId, exchanged.value);
      if (!linked.ok) return refuse(reply, linked.status, 'Not linked', linked.message);

      const { credential, accounts, relinked } = linked;
      const names = accounts.map((a) => a.name);
      const listed =
        names.length > 20
          ? `${names.slice(0, 20).join(', ')} and ${names.length - 20} more`
          : names.join(', ');
      const summary = `${relinked ? 'Re-linked' : 'Linked'} your Tradovate ${oauth.environment} login "${credential.label}": ${accounts.length} account(s)${accounts.length > 0 ? `: ${listed}` : ''}.`;
      await stores.audit.record({
        actor: `user:${spent.userId}`,
        action: relinked ? 'credential.relinked' : 'credential.linked',
        subject: `credential:${credential.id}`,
        details: { accounts: accounts.length, environment: oauth.environment },
      });
      log.info(
        { userId: spent.userId, credentialId: credential.id, accounts: accounts.length, relinked },
        'Tradovate login linked',
      );
      if (spent.requestedBy) {
        const to = { platform: spent.requestedBy.platform, userId: spent.requestedBy.externalId };
        await deps.notifier.notify({ type: 'text', to, text: summary }).catch((e: unknown) => {
          log.warn({ err: e }, 'could not tell the user what was linked');
        });
      }
      return reply
        .type(HTML)
        .header('cache-control', 'no-store')
        .send(
          messagePage(
            relinked ? 'Re-linked' : 'Linked',
            summary,
            html`<ul id="linked-accounts">${accounts.map((a) => html`<li>${a.name}${a.active ? '' : ' (inactive)'}</li>`)}</ul>
<p>You can close this window; the bot has the details too.</p>`,
          ),
        );
    },
  );
}

type LinkResult =
  | {
      readonly ok: true;
      readonly credential: Credential;
      readonly accounts: readonly { readonly name: string; readonly active: boolean }[];
      readonly relinked: boolean;
    }
  | { readonly ok: false; readonly status: number; readonly message: string };

/**
 * Store the tokens as a credential, list its accounts and attach them. A login whose accounts an
 * existing credential of the same user already trades is a re-link: that credential takes the new
 * token and is reset, so one Tradovate user stays one lane.
 */
async function link(
  deps: OAuthDeps,
  oauth: OAuthLinking,
  tradovate: TradovateExtras,
  userId: string,
  tokens: OAuthTokenSet,
): Promise<LinkResult> {
  const { credentials, accounts } = deps.stores;
  const secret = {
    accessToken: tokens.accessToken,
    expiresAt: tokens.expiresAt.toISOString(),
    ...(tokens.refreshToken ? { refreshToken: tokens.refreshToken } : {}),
  };
  const day = deps.clock.now().toISOString().slice(0, 10);
  const created = await credentials.create({
    ownerUserId: userId,
    broker: 'tradovate',
    environment: oauth.environment,
    kind: 'oauth',
    label: `Tradovate ${oauth.environment} ${day}`,
    secret,
    tokenExpiresAt: tokens.expiresAt,
    tokenSource: 'oauth',
  });
  const discard = async () => {
    tradovate.resetCredential(created.id);
    await credentials.delete(created.id);
  };
  const listed = await tradovate.listAccounts(created.id);
  if (!listed.ok) {
    await discard();
    deps.log.warn(
      { userId, reason: listed.error.reason },
      'could not list the accounts of a new OAuth login',
    );
    return {
      ok: false,
      status: 502,
      message: `Tradovate did not list the login's accounts (${listed.error.reason}). Send /link to the bot to try again.`,
    };
  }
  const venueIds = new Set(listed.value.map((a) => a.brokerAccountId));
  const previousIds = new Set(
    (await accounts.listAll())
      .filter(
        (a) => a.broker === 'tradovate' && a.credentialId !== created.id && venueIds.has(a.brokerAccountId),
      )
      .map((a) => a.credentialId),
  );
  const previous: Credential[] = [];
  for (const id of previousIds) {
    const c = await credentials.get(id);
    // Account ids are per environment: a demo id says nothing about a live login.
    if (c && c.environment === oauth.environment) previous.push(c);
  }
  if (previous.some((c) => c.ownerUserId !== userId)) {
    await discard();
    return {
      ok: false,
      status: 409,
      message: 'These Tradovate accounts are already linked to another tradecast user. Ask an admin.',
    };
  }
  let target = created;
  const earlier = previous[0];
  if (earlier) {
    // A refresh token from an older session must not outlive the new link.
    await credentials.mergeSecret(
      earlier.id,
      { ...secret, refreshToken: tokens.refreshToken },
      { tokenExpiresAt: tokens.expiresAt, tokenSource: 'oauth' },
    );
    await credentials.setState(earlier.id, 'ok');
    tradovate.resetCredential(earlier.id);
    await discard();
    target = earlier;
  }
  for (const a of listed.value) {
    await accounts.create({
      credentialId: target.id,
      ownerUserId: userId,
      brokerAccountId: a.brokerAccountId,
      name: a.name,
      enabled: a.active,
    });
  }
  return {
    ok: true,
    credential: (await credentials.get(target.id)) ?? target,
    accounts: listed.value,
    relinked: Boolean(earlier),
  };
}
