/**
 * Tradovate's REST surface on node:http: `/v1/<endpoint>` (plus `/auth/...` without `/v1`, where
 * the OAuth exchange lives), any method, JSON or form bodies, bearer tokens; and the OAuth
 * authorize page at `/oauth`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Api } from './api.js';
import type { AuthService } from './auth.js';

export interface OAuthPageSettings {
  /** The user the authorize page approves at once (a test's "logged in" user); null renders a login form. */
  user: string | null;
}

const MAX_BODY = 1 << 20;

export function createRestListener(
  api: Api,
  auth: AuthService,
  oauth: OAuthPageSettings,
  network: (() => number) | null = null,
) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    handle(api, auth, oauth, req, res, network).catch((error: unknown) => {
      // A bug in the simulator: say so loudly rather than answer something plausible.
      console.error('tradovate simulator: request failed', error);
      if (!res.headersSent) send(res, 500, String(error));
      else res.destroy();
    });
  };
}

async function handle(
  api: Api,
  auth: AuthService,
  oauth: OAuthPageSettings,
  req: IncomingMessage,
  res: ServerResponse,
  network: (() => number) | null,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  // The way in; the way out is waited before the answer is written.
  if (network) await sleep(network());
  const path = url.pathname;
  const text = await readBody(req);
  const form = /application\/x-www-form-urlencoded/i.test(req.headers['content-type'] ?? '');

  if (/^\/oauth\/?$/i.test(path)) {
    const params = form ? new URLSearchParams(text) : url.searchParams;
    authorizePage(auth, oauth, params, req.method === 'POST' && form, res);
    return;
  }

  let endpoint: string | null = null;
  if (/^\/v1\//i.test(path)) endpoint = path.slice(4);
  else if (/^\/auth\//i.test(path)) endpoint = path.slice(1);
  if (endpoint === null || endpoint === '' || /^websocket\/?$/i.test(endpoint)) {
    send(res, 404, 'Not found');
    return;
  }

  let body: Record<string, unknown> | undefined;
  if (form) {
    body = Object.fromEntries(new URLSearchParams(text));
  } else if (text.trim() !== '') {
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        throw new Error('not an object');
      }
      body = parsed as Record<string, unknown>;
    } catch {
      send(res, 400, 'Invalid JSON body');
      return;
    }
  }

  const header = req.headers.authorization ?? '';
  const bearer = /^Bearer\s+(.+)$/i.exec(header.trim());
  const outcome = await api.handle({
    transport: 'rest',
    method: req.method ?? 'GET',
    endpoint,
    query: url.searchParams,
    body,
    ...(bearer?.[1] ? { token: bearer[1] } : {}),
    ip: req.socket.remoteAddress ?? '127.0.0.1',
  });
  // The timeout fault: hold the connection open and never answer.
  if (outcome.kind === 'silence') return;
  const { status, body: answer } = outcome.response;
  if (network) await sleep(network());
  if (status === 429) {
    res.writeHead(429, { 'content-length': '0' }).end();
  } else if (status >= 200 && status < 300) {
    const json = answer === undefined ? '' : JSON.stringify(answer);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(json);
  } else {
    send(res, status, typeof answer === 'string' ? answer : '');
  }
}

/**
 * GET shows the page (or approves at once for the configured user and redirects with a code);
 * POST is the login form's submission.
 */
function authorizePage(
  auth: AuthService,
  oauth: OAuthPageSettings,
  params: URLSearchParams,
  submitted: boolean,
  res: ServerResponse,
): void {
  const clientId = params.get('client_id') ?? '';
  const redirectUri = params.get('redirect_uri') ?? '';
  const state = params.get('state');
  if (!submitted && params.get('response_type') !== 'code') {
    page(res, 400, `<p>Unsupported response_type ${escapeHtml(params.get('response_type') ?? '')}</p>`);
    return;
  }
  // An unknown client or redirect gets no form and no redirect: nothing may reach an unregistered URI.
  const refused = auth.checkClient(clientId, redirectUri);
  if (refused) {
    page(res, 400, `<p class="error">${escapeHtml(refused)}</p>`);
    return;
  }
  let result: { code: string } | { error: string } | null = null;
  if (submitted) {
    result = auth.authorize(clientId, redirectUri, params.get('name') ?? '', params.get('password') ?? '');
  } else if (oauth.user !== null) result = auth.authorize(clientId, redirectUri, oauth.user);

  if (result && 'code' in result) {
    const target = new URL(redirectUri);
    target.searchParams.set('code', result.code);
    if (state !== null) target.searchParams.set('state', state);
    res.writeHead(302, { location: target.toString(), 'content-length': '0' }).end();
    return;
  }
  const error = result ? `<p class="error">${escapeHtml(result.error)}</p>` : '';
  const hidden = (name: string, value: string | null) =>
    value === null ? '' : `<input type="hidden" name="${name}" value="${escapeHtml(value)}">`;
  page(
    res,
    result ? 400 : 200,
    `<h1>Sign in to Tradovate (simulator)</h1>${error}
<form method="post" action="/oauth">
${hidden('client_id', clientId)}${hidden('redirect_uri', redirectUri)}${hidden('state', state)}
<label>Username <input name="name"></label>
<label>Password <input name="password" type="password"></label>
<button type="submit">Authorize</button>
</form>`,
  );
}

function page(res: ServerResponse, status: number, html: string): void {
  res
    .writeHead(status, { 'content-type': 'text/html; charset=utf-8' })
    .end(`<!doctype html><html><head><title>Tradovate simulator</title></head><body>${html}</body></html>`);
}

function send(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(text);
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
