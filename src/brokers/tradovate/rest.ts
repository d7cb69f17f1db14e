/**
 * Tradovate REST transport: one request, one answer, no policy. Retries, penalties and token
 * handling live in the client above; this layer only says what came back, or whether the request
 * may have left the process when nothing came back.
 */

/** One venue request, the same for REST and WebSocket. */
export interface VenueRequest {
  /** Path without the leading slash, e.g. `order/placeorder`. */
  readonly endpoint: string;
  readonly query?: Readonly<Record<string, string | number>>;
  /** JSON body; its presence makes the REST call a POST. */
  readonly body?: Readonly<Record<string, unknown>>;
}

/** What a transport got back. */
export type TransportAnswer =
  | { readonly kind: 'response'; readonly status: number; readonly body: unknown; readonly text: string }
  | {
      readonly kind: 'failed';
      readonly failure: 'timeout' | 'dropped';
      /** False only when the request certainly did not reach the venue. */
      readonly sent: boolean;
      readonly detail?: string;
    };

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/** Encode a query object the way Tradovate expects (`masterid=1`, `t=ES&l=10`). */
export function encodeQuery(query: VenueRequest['query']): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) params.set(k, String(v));
  return params.toString();
}

/** Read a body as JSON when it is JSON, as text otherwise, null when empty. */
export function decodeBody(text: string): unknown {
  if (text.length === 0) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

// Connection errors raised before a single byte was written: the request certainly did not arrive.
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

function errorCode(e: unknown): string | undefined {
  let cur: unknown = e;
  for (let depth = 0; depth < 4 && cur && typeof cur === 'object'; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

export interface RestTransportOptions {
  /** e.g. `https://demo.tradovateapi.com/v1`. */
  readonly baseUrl: string;
  readonly fetch?: FetchLike;
}

export class RestTransport {
  private readonly baseUrl: string;
  private readonly fetch: FetchLike;

  constructor(options: RestTransportOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.fetch = options.fetch ?? ((input, init) => fetch(input, init));
  }

  async send(request: VenueRequest, token: string | null, timeoutMs: number): Promise<TransportAnswer> {
    const query = encodeQuery(request.query);
    const url = `${this.baseUrl}/${request.endpoint}${query ? `?${query}` : ''}`;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    const init: RequestInit = {
      method: request.body ? 'POST' : 'GET',
      headers,
      signal: AbortSignal.timeout(timeoutMs),
    };
    if (request.body) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(request.body);
    }
    let response: Response;
    try {
      response = await this.fetch(url, init);
    } catch (e) {
      const name = (e as { name?: string } | null)?.name;
      if (name === 'TimeoutError' || name === 'AbortError')
        return { kind: 'failed', failure: 'timeout', sent: true };
      const code = errorCode(e);
      return {
        kind: 'failed',
        failure: 'dropped',
        sent: !(code && NOT_SENT_CODES.has(code)),
        detail: code ?? (e instanceof Error ? e.message : 'network error'),
      };
    }
    let text: string;
    try {
      text = await response.text();
    } catch (e) {
      const name = (e as { name?: string } | null)?.name;
      if (name === 'TimeoutError' || name === 'AbortError')
        return { kind: 'failed', failure: 'timeout', sent: true };
      return { kind: 'failed', failure: 'dropped', sent: true, detail: 'body cut short' };
    }
    return { kind: 'response', status: response.status, body: decodeBody(text), text };
  }
}
