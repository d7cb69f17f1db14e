/**
 * A scripted Tradovate REST venue behind a `fetch` function, plus an in-memory credential store and
 * a logger that keeps what it was told: enough to drive the adapter through its public options
 * without a network.
 */
import type {
  CredentialStore,
  FetchLike,
  Logger,
  TradovateSecret,
} from '../../../src/brokers/tradovate/index.js';

export const REST_URL = 'http://venue.test/v1';

export interface FakeCall {
  readonly method: string;
  /** Lowercase endpoint without `/v1/`. */
  readonly endpoint: string;
  readonly query: URLSearchParams;
  readonly body: Record<string, unknown> | undefined;
  readonly token: string | null;
}

export type FakeAnswer = { readonly status?: number; readonly body?: unknown };
export type FakeRoute = (call: FakeCall) => FakeAnswer | Promise<FakeAnswer>;

export interface FakeVenue {
  readonly fetch: FetchLike;
  readonly calls: FakeCall[];
  readonly routes: Map<string, FakeRoute>;
  count(endpoint: string): number;
}

/** Answers from `routes` by lowercase endpoint; anything else is a 404. */
export function fakeVenue(routes: Record<string, FakeRoute> = {}): FakeVenue {
  const table = new Map(Object.entries(routes).map(([k, v]) => [k.toLowerCase(), v]));
  const calls: FakeCall[] = [];
  const fetch: FetchLike = async (input, init) => {
    const url = new URL(input);
    const endpoint = url.pathname.replace(/^\/(v1\/)?/, '').toLowerCase();
    const auth = new Headers(init.headers).get('authorization');
    const call: FakeCall = {
      method: init.method ?? 'GET',
      endpoint,
      query: url.searchParams,
      body: typeof init.body === 'string' ? decode(init.body) : undefined,
      token: auth?.startsWith('Bearer ') ? auth.slice(7) : null,
    };
    calls.push(call);
    const route = table.get(endpoint);
    const pending = route
      ? Promise.resolve(route(call))
      : Promise.resolve({ status: 404, body: 'Not found' });
    // Like fetch, give up when the caller's signal aborts (the adapter's request timeout).
    const answer = await new Promise<FakeAnswer>((resolve, reject) => {
      const signal = init.signal;
      if (signal) {
        if (signal.aborted) reject(signal.reason);
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      }
      pending.then(resolve, reject);
    });
    const text =
      answer.body === undefined
        ? ''
        : typeof answer.body === 'string'
          ? answer.body
          : JSON.stringify(answer.body);
    return new Response(text, { status: answer.status ?? 200 });
  };
  return {
    fetch,
    calls,
    routes: table,
    count: (e) => calls.filter((c) => c.endpoint === e.toLowerCase()).length,
  };
}

/** JSON bodies, and form bodies (the OAuth token endpoint). */
function decode(body: string): Record<string, unknown> {
  try {
    return JSON.parse(body) as Record<string, unknown>;
  } catch {
    return Object.fromEntries(new URLSearchParams(body));
  }
}

export interface StoredWrite {
  readonly credentialId: string;
  readonly secret: TradovateSecret;
  readonly tokenExpiresAt: Date;
  readonly tokenSource: string;
}

export class MemoryCredentialStore implements CredentialStore {
  readonly secrets = new Map<string, TradovateSecret>();
  readonly writes: StoredWrite[] = [];
  reads = 0;

  async read(credentialId: string): Promise<TradovateSecret> {
    this.reads++;
    return this.secrets.get(credentialId) ?? {};
  }

  async write(
    credentialId: string,
    secret: TradovateSecret,
    meta: { tokenExpiresAt: Date; tokenSource: 'renewed' | 'refreshed' | 'login' },
  ): Promise<void> {
    this.secrets.set(credentialId, secret);
    this.writes.push({ credentialId, secret, ...meta });
  }
}

export interface LogEntry {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly obj: Record<string, unknown>;
  readonly msg: string;
}

export class MemoryLogger implements Logger {
  readonly entries: LogEntry[] = [];
  debug(obj: object, msg: string): void {
    this.entries.push({ level: 'debug', obj: obj as Record<string, unknown>, msg });
  }
  info(obj: object, msg: string): void {
    this.entries.push({ level: 'info', obj: obj as Record<string, unknown>, msg });
  }
  warn(obj: object, msg: string): void {
    this.entries.push({ level: 'warn', obj: obj as Record<string, unknown>, msg });
  }
  error(obj: object, msg: string): void {
    this.entries.push({ level: 'error', obj: obj as Record<string, unknown>, msg });
  }
  /** Token sources logged, in order. */
  sources(credentialId?: string): string[] {
    return this.entries
      .filter(
        (e) =>
          typeof e.obj.source === 'string' &&
          (credentialId === undefined || e.obj.credentialId === credentialId),
      )
      .map((e) => e.obj.source as string);
  }
  /** Everything logged, as one string, to check that no secret leaked. */
  text(): string {
    return this.entries.map((e) => `${e.msg} ${JSON.stringify(e.obj)}`).join('\n');
  }
}

export function tokenAnswer(token: string, expiresAt: Date, userId = 5001): FakeAnswer {
  return {
    body: {
      accessToken: token,
      mdAccessToken: `md-${token}`,
      expirationTime: expiresAt.toISOString(),
      userStatus: 'Active',
      userId,
      name: 'demo',
      hasLive: false,
    },
  };
}
