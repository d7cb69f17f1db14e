/**
 * Dashboard sign-in: no passwords. `/dashboard` in chat hands out a single-use link; the link's page
 * asks for one click (a POST) before spending it, because chat apps fetch links to build previews and
 * would otherwise spend it first. The session is a signed cookie holding the user id and its expiry;
 * roles are read again on every request, so a revoked role takes effect at once.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../domain/clock.js';
import type { Role } from '../domain/types.js';
import type { Logger } from '../log.js';
import { html, messagePage, page } from './html.js';
import type { HttpStores } from './ports.js';
import { hashToken, TOKEN_SHAPE } from './tokens.js';

/** Who is signed in to the dashboard. */
export interface Viewer {
  readonly id: string;
  readonly displayName: string;
  readonly roles: readonly Role[];
  /** Admins see and change everything; everyone else sees their own accounts and credentials. */
  readonly admin: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The signed-in dashboard user; set by {@link requireViewer}. */
    viewer: Viewer | null;
  }
}

export const SESSION_COOKIE = 'tc_session';

export interface SessionDeps {
  readonly stores: Pick<HttpStores, 'users' | 'oneTimeTokens' | 'audit'>;
  readonly clock: Clock;
  readonly log: Logger;
  readonly sessionTtlMs: number;
  /** Whether cookies need `Secure` (the public URL is https). */
  readonly secure: boolean;
  /** Per-route rate limit of the sign-in routes. */
  readonly rateLimit: { readonly max: number; readonly timeWindow: number };
}

/** The signed-in user behind the request's session cookie, or null. */
export async function readViewer(
  request: FastifyRequest,
  deps: Pick<SessionDeps, 'stores' | 'clock'>,
): Promise<Viewer | null> {
  const cookie = request.cookies[SESSION_COOKIE];
  if (!cookie) return null;
  const unsigned = request.unsignCookie(cookie);
  if (!unsigned.valid || unsigned.value === null) return null;
  const match = /^(\d{1,19})\.(\d{1,15})$/.exec(unsigned.value);
  if (!match) return null;
  if (Number(match[2]) <= deps.clock.now().getTime()) return null;
  const user = await deps.stores.users.get(match[1]!);
  if (!user || user.roles.length === 0) return null;
  return {
    id: user.id,
    displayName: user.displayName,
    roles: user.roles,
    admin: user.roles.includes('admin'),
  };
}

/** Whether the browser says the request comes from another site (`Sec-Fetch-Site`, else `Origin`). */
function crossSite(request: FastifyRequest): boolean {
  const site = request.headers['sec-fetch-site'];
  if (typeof site === 'string') return site !== 'same-origin' && site !== 'none';
  const origin = request.headers.origin;
  // No Origin: not a browser's form post. "null": an opaque origin such as a sandboxed frame.
  if (origin === undefined) return false;
  if (origin === 'null') return true;
  try {
    return new URL(origin).host !== request.headers.host;
  } catch {
    return true;
  }
}

/** A preHandler that admits only signed-in users: 401 with a sign-in hint otherwise. */
export function requireViewer(deps: Pick<SessionDeps, 'stores' | 'clock'>) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const viewer = await readViewer(request, deps);
    if (viewer) {
      request.viewer = viewer;
      return;
    }
    const wantsHtml = request.method === 'GET' && /text\/html/.test(request.headers.accept ?? '');
    if (wantsHtml) {
      return reply
        .code(401)
        .type('text/html; charset=utf-8')
        .send(
          messagePage(
            'Signed out',
            'Your dashboard session has ended or never started. Send /dashboard to the bot for a sign-in link.',
          ),
        );
    }
    return reply.code(401).send({ error: 'unauthorized', message: 'sign in with a link from /dashboard' });
  };
}

/** `GET /signin?t=` (the confirmation page), `POST /signin` (spends the link) and `POST /signout`. */
export function registerSignIn(app: FastifyInstance, deps: SessionDeps): void {
  const { stores, clock, log } = deps;
  const config = { rateLimit: deps.rateLimit };
  const invalid = () =>
    messagePage(
      'Link not valid',
      'This sign-in link is invalid, already used or expired. Send /dashboard to the bot for a new one.',
    );

  app.get<{ Querystring: { t?: string } }>('/signin', { config }, async (request, reply) => {
    reply.header('cache-control', 'no-store');
    const token = request.query.t ?? '';
    const found = TOKEN_SHAPE.test(token)
      ? await stores.oneTimeTokens.find('sign_in', hashToken(token), clock.now())
      : null;
    const user = found ? await stores.users.get(found.userId) : null;
    if (!found || !user) return reply.code(400).type('text/html; charset=utf-8').send(invalid());
    return reply.type('text/html; charset=utf-8').send(
      page({
        title: 'Sign in',
        viewer: null,
        body: html`<p>Sign in to the tradecast dashboard as <strong>${user.displayName}</strong>.</p>
<form method="post" action="/signin">
  <input type="hidden" name="t" value="${token}">
  <button type="submit" class="primary" id="sign-in">Sign in</button>
</form>
<p class="muted">The link works once. If you did not ask for it, close this page.</p>`,
      }),
    );
  });

  // No CSRF token here: the one-time token in the form is the secret a forged request lacks. A page
  // elsewhere could still post its owner's own link to sign a visitor in as that owner (and collect
  // what they type), so a post from another site is refused.
  app.post<{ Body: { t?: string } }>('/signin', { config }, async (request, reply) => {
    reply.header('cache-control', 'no-store');
    if (crossSite(request)) {
      return reply
        .code(403)
        .type('text/html; charset=utf-8')
        .send(messagePage('Sign-in refused', 'Sign in from the link the bot sent you.'));
    }
    const token = typeof request.body?.t === 'string' ? request.body.t : '';
    const now = clock.now();
    const spent = TOKEN_SHAPE.test(token)
      ? await stores.oneTimeTokens.consume('sign_in', hashToken(token), now)
      : null;
    if (!spent) return reply.code(400).type('text/html; charset=utf-8').send(invalid());
    const expiresAt = now.getTime() + deps.sessionTtlMs;
    reply.setCookie(SESSION_COOKIE, `${spent.userId}.${expiresAt}`, {
      signed: true,
      httpOnly: true,
      sameSite: 'lax',
      secure: deps.secure,
      path: '/',
      maxAge: Math.floor(deps.sessionTtlMs / 1000),
    });
    await stores.audit.record({
      actor: `user:${spent.userId}`,
      action: 'dashboard.sign_in',
      subject: `user:${spent.userId}`,
      details: { ip: request.ip },
    });
    log.info({ userId: spent.userId }, 'dashboard sign-in');
    return reply.redirect('/dashboard', 303);
  });

  app.post('/signout', { preHandler: [requireViewer(deps), app.csrfProtection] }, async (request, reply) => {
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    await stores.audit.record({
      actor: `user:${request.viewer!.id}`,
      action: 'dashboard.sign_out',
      subject: `user:${request.viewer!.id}`,
    });
    return reply
      .type('text/html; charset=utf-8')
      .send(messagePage('Signed out', 'You are signed out. Send /dashboard to the bot to sign in again.'));
  });
}
