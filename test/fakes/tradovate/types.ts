/**
 * Types shared by the simulator's layers: the options a test passes to `startSimulator`, the clock,
 * and the transport-neutral request and response that REST and WebSocket both feed through one
 * pipeline (so every endpoint behaves the same on both transports).
 */

/** Milliseconds since the epoch; injectable so tests can expire tokens and slide rate windows. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/**
 * A clock that only moves when told to. It starts on a fixed date (Monday 2026-01-05 15:00 UTC, when
 * the quarterly front months are the H6 contracts) so contract names in tests never drift.
 */
export class ManualClock implements Clock {
  constructor(private current = Date.UTC(2026, 0, 5, 15, 0, 0)) {}
  now(): number {
    return this.current;
  }
  advance(ms: number): void {
    this.current += ms;
  }
  set(ms: number): void {
    this.current = ms;
  }
}

export interface SimAccountOption {
  readonly id: number;
  readonly name: string;
}

export interface SimUserOption {
  readonly name: string;
  readonly password: string;
  readonly userId: number;
  /** API key id; compared as a string so `8` and `"8"` both match. Omit to skip the check. */
  readonly cid?: number | string;
  /** API secret; omit to skip the check. */
  readonly sec?: string;
  /** Application nickname the API key was registered for; omit to skip the check. */
  readonly appId?: string;
  readonly email?: string;
  readonly accounts: readonly SimAccountOption[];
}

export interface OAuthClientOption {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly redirectUris: readonly string[];
}

/** Per-user request budget (counted over rolling windows), past which the answer is a 429. */
export interface UserLimits {
  readonly perSecond: number;
  readonly perMinute: number;
  readonly perHour: number;
}

/** One endpoint-level rule from the reference table: past `perHour` the answer is a penalty ticket. */
export interface EndpointLimit {
  readonly perHour: number;
  /** Base `p-time` in seconds; doubled for each repeated violation inside the hour. */
  readonly backoffSeconds: number;
  /** Whether successful calls count towards the limit (`renewaccesstoken`) or only failures (`accesstokenrequest`). */
  readonly counts: 'all' | 'failures';
  /** Penalties on this endpoint carry `p-captcha: true` (a third-party app cannot clear them). */
  readonly captcha?: boolean;
}

export interface LimitOptions {
  /** Authenticated users, keyed by user id. */
  readonly user?: Partial<UserLimits>;
  /** Requests without a token (login, OAuth exchange), keyed by client IP. */
  readonly anonymous?: Partial<UserLimits>;
  /** Keyed by the last segment of the endpoint, lowercase (`accesstokenrequest`, `me`, `syncrequest`). */
  readonly endpoints?: Readonly<Record<string, EndpointLimit>>;
  /** Tradovate keys endpoint limits by IP; `user` lets one test host play several users. */
  readonly endpointKey?: 'ip' | 'user';
}

export interface LatencyInfo {
  readonly endpoint: string;
  readonly transport: Transport;
  readonly userName: string | null;
}

export type LatencyOption =
  | ((request: LatencyInfo) => number)
  | { readonly meanMs: number; readonly jitterMs: number };

/**
 * Injected failures. Every field may be changed while the simulator runs (`sim.faults.timeoutRate = 1`).
 * Rates are shares of requests, drawn from the seeded generator.
 */
export interface Faults {
  /** Answer this share of requests with HTTP 500 (the request is not executed). */
  serverErrorRate: number;
  /** Never answer this share of requests. The request IS executed: only the answer is lost. */
  timeoutRate: number;
  /** Answer this share of requests with a penalty ticket (the request is not executed). */
  penaltyRate: number;
  /** User names whose every request gets an HTTP 429 (WebSocket `{"s":429}`). */
  rateLimitUsers: string[];
  /**
   * Cut each WebSocket (no close frame) when it receives its Nth request, after executing it and
   * before answering. Null: never.
   */
  dropSocketAfterMessages: number | null;
  /** Restrict the rate-based faults to these endpoints (lowercase, e.g. `order/placeorder`); empty: all. */
  endpoints: string[];
}

export interface WebSocketOptions {
  /** Server heartbeat `h` after this long without sending anything. Default 2500. */
  readonly heartbeatMs?: number;
  /** Close a socket that has sent nothing (not even `[]`) for this long. Default 15000. */
  readonly clientTimeoutMs?: number;
  /** Close a socket that has not authorized within this long. Default 10000. */
  readonly authorizeTimeoutMs?: number;
  /** Authorized sockets per user; past it the oldest gets `shutdown` ConnectionQuotaReached. Default 50. */
  readonly maxSocketsPerUser?: number;
  /** Reject JSON-quoted tokens in `authorize`, as one 2026 report says the server now does. Default false. */
  readonly strictAuthorizeToken?: boolean;
  /** `user/syncrequest` without `entityTypes` returns only users (the partner docs' default). Default false. */
  readonly syncRequiresEntityTypes?: boolean;
}

export type Transport = 'rest' | 'ws';

/** One request as both transports hand it to the pipeline. */
export interface ApiRequest {
  readonly transport: Transport;
  /** HTTP method, or `WS`. */
  readonly method: string;
  /** The endpoint as sent (`order/placeOrder`); matched case-insensitively. */
  readonly endpoint: string;
  readonly query: URLSearchParams;
  readonly body: Record<string, unknown> | undefined;
  /** REST: the bearer token, when present. */
  readonly token?: string;
  /** WebSocket: the session the socket authorized with. */
  readonly sessionId?: string;
  readonly ip: string;
}

/** A status and a JSON body; `body` undefined means an empty body (`{"s":...}` without `d` over WS). */
export interface ApiResponse {
  readonly status: number;
  readonly body?: unknown;
}

/** What the pipeline decided: an answer, or silence (the timeout fault). */
export type ApiOutcome =
  | { readonly kind: 'answer'; readonly response: ApiResponse }
  | { readonly kind: 'silence' };
