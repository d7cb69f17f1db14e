/**
 * The one request pipeline both transports use, so an endpoint answers the same over REST and over
 * the WebSocket: record → injected fault → token → per-user budget → endpoint limit (penalty
 * tickets) → handler → latency.
 */
import type { AuthService, Session } from './auth.js';
import { ENTITY_BY_LOWER, type EntityStore, type Viewer } from './entities.js';
import type { FaultInjector } from './faults.js';
import { EndpointLimiter, type UserRateLimiter } from './limits.js';
import { num, type TradovateState } from './state.js';
import type { ApiOutcome, ApiRequest, ApiResponse, Clock, SimUserOption, Transport } from './types.js';

export interface RequestRecord {
  readonly at: Date;
  /** The token's user, or the `name` of a login; null when unknown. */
  readonly userName: string | null;
  /** Lowercase, without `/v1/` (`order/placeorder`). */
  readonly endpoint: string;
  readonly method: string;
  readonly transport: Transport;
  /** The answer's status; `timeout` when the answer was withheld; null while in flight. */
  status: number | 'timeout' | null;
}

export interface RequestFilter {
  readonly userName?: string | null;
  readonly endpoint?: string;
  readonly transport?: Transport;
  readonly method?: string;
}

/** Every request the simulator received, for tests to count and inspect. */
export class RequestLog {
  readonly entries: RequestRecord[] = [];

  add(record: RequestRecord): RequestRecord {
    this.entries.push(record);
    return record;
  }

  /** Matching requests; `endpoint` is compared case-insensitively. */
  filter(filter: RequestFilter = {}): RequestRecord[] {
    const endpoint = filter.endpoint?.toLowerCase();
    return this.entries.filter(
      (r) =>
        (filter.userName === undefined || r.userName === filter.userName) &&
        (endpoint === undefined || r.endpoint === endpoint) &&
        (filter.transport === undefined || r.transport === filter.transport) &&
        (filter.method === undefined || r.method === filter.method),
    );
  }

  count(filter: RequestFilter = {}): number {
    return this.filter(filter).length;
  }

  /** Counts by user name (`(anonymous)` for none), then by endpoint. */
  byUser(): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    for (const r of this.entries) {
      const user = r.userName ?? '(anonymous)';
      out[user] ??= {};
      out[user][r.endpoint] = (out[user][r.endpoint] ?? 0) + 1;
    }
    return out;
  }

  clear(): void {
    this.entries.length = 0;
  }
}

interface Context {
  readonly session: Session | null;
  readonly user: SimUserOption | null;
  readonly body: Record<string, unknown>;
  readonly query: URLSearchParams;
}

interface AuthedContext extends Context {
  readonly session: Session;
  readonly user: SimUserOption;
  readonly viewer: Viewer;
}

type Route =
  | { readonly auth: false; run(ctx: Context): ApiResponse }
  | { readonly auth: true; run(ctx: AuthedContext): ApiResponse };

const ok = (body: unknown): ApiResponse => ({ status: 200, body });
const NOT_FOUND: ApiResponse = { status: 404, body: 'Not found' };

export interface ApiDeps {
  readonly clock: Clock;
  readonly auth: AuthService;
  readonly state: TradovateState;
  readonly store: EntityStore;
  readonly userLimiter: UserRateLimiter;
  readonly endpointLimiter: EndpointLimiter;
  readonly endpointKey: 'ip' | 'user';
  readonly faults: FaultInjector;
  readonly log: RequestLog;
  /** Whether a `user/syncrequest` without `entityTypes` returns only users. */
  readonly syncRequiresEntityTypes: boolean;
}

export class Api {
  private readonly routes: ReadonlyMap<string, Route>;

  constructor(private readonly deps: ApiDeps) {
    this.routes = this.buildRoutes();
  }

  /** `order/placeOrder`, `/v1/Order/PlaceOrder/` → `order/placeorder`. */
  static normalize(endpoint: string): string {
    return endpoint
      .trim()
      .replace(/^\/+|\/+$/g, '')
      .replace(/^v1\//i, '')
      .toLowerCase();
  }

  /** The session a request acts in: the socket's, or the bearer token's. */
  sessionOf(request: ApiRequest): Session | null {
    if (request.sessionId !== undefined) return this.deps.auth.session(request.sessionId);
    return request.token === undefined ? null : this.deps.auth.resolve(request.token);
  }

  async handle(request: ApiRequest): Promise<ApiOutcome> {
    const { auth, faults, log, clock, userLimiter, endpointLimiter } = this.deps;
    const endpoint = Api.normalize(request.endpoint);
    const route = this.route(endpoint);
    const session = this.sessionOf(request);
    const rawBody = request.body ?? {};
    const userName =
      session?.userName ?? (typeof rawBody.name === 'string' && !route?.auth ? rawBody.name : null);
    const record = log.add({
      at: new Date(clock.now()),
      userName,
      endpoint,
      method: request.method,
      transport: request.transport,
      status: null,
    });
    const answer = async (response: ApiResponse): Promise<ApiOutcome> => {
      record.status = response.status;
      const wait = faults.delay({ endpoint, transport: request.transport, userName });
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      return { kind: 'answer', response };
    };

    const fault = faults.decide(endpoint, userName);
    if (fault === 'rate-limit') return answer({ status: 429 });
    if (fault === 'server-error') return answer({ status: 500, body: 'Internal Server Error' });
    if (!route) return answer(NOT_FOUND);
    if (route.auth && !session) return answer({ status: 401, body: 'Access is denied' });
    if (!userLimiter.admit(session ? `user:${session.userId}` : `ip:${request.ip}`, !session)) {
      return answer({ status: 429 });
    }

    // The ticket rides in the resent body (Tradovate's rule); a body-less GET may put it in the query.
    const ticketValue = rawBody['p-ticket'] ?? request.query.get('p-ticket') ?? undefined;
    const ticket = typeof ticketValue === 'string' ? ticketValue : undefined;
    const body = { ...rawBody };
    delete body['p-ticket'];
    const rule = EndpointLimiter.ruleName(endpoint);
    const limitKey =
      this.deps.endpointKey === 'user' && userName !== null ? `user:${userName}` : `ip:${request.ip}`;
    const admitted = endpointLimiter.admit(rule, limitKey, ticket);
    if (!admitted.ok) return answer(ok(admitted.penalty));
    if (fault === 'penalty' && !admitted.redeemed) return answer(ok(endpointLimiter.issue(rule, limitKey)));

    const user = session ? (auth.userById(session.userId) ?? null) : null;
    const ctx: Context = { session, user, body, query: request.query };
    const response = route.auth
      ? route.run({ ...ctx, session: session!, user: user!, viewer: this.deps.state.viewer(user!) })
      : route.run(ctx);
    endpointLimiter.record(rule, limitKey, isFailure(response));
    if (fault === 'timeout') {
      record.status = 'timeout';
      return { kind: 'silence' };
    }
    return answer(response);
  }

  private route(endpoint: string): Route | undefined {
    const fixed = this.routes.get(endpoint);
    if (fixed) return fixed;
    const [entity, op, ...rest] = endpoint.split('/');
    const type = entity === undefined ? undefined : ENTITY_BY_LOWER.get(entity);
    if (!type || op === undefined || rest.length > 0) return undefined;
    const store = this.deps.store;
    const state = this.deps.state;
    const param = (ctx: Context, key: string): unknown => ctx.query.get(key) ?? ctx.body[key];
    const ids = (v: unknown): number[] =>
      (Array.isArray(v) ? v : String(v ?? '').split(',')).map((x) => num(x)).filter((x) => x !== undefined);
    switch (op) {
      case 'list':
        return { auth: true, run: (ctx) => ok(store.list(type, ctx.viewer)) };
      case 'item':
        return {
          auth: true,
          run: (ctx) => {
            const id = num(param(ctx, 'id'));
            if (id === undefined) return NOT_FOUND;
            if (type === 'contract') state.contractById(id);
            const found = store.item(type, id, ctx.viewer);
            return found ? ok(found) : NOT_FOUND;
          },
        };
      case 'items':
        return {
          auth: true,
          run: (ctx) => {
            const list = ids(param(ctx, 'ids'));
            if (type === 'contract') for (const id of list) state.contractById(id);
            return ok(list.map((id) => store.item(type, id, ctx.viewer)).filter((x) => x !== undefined));
          },
        };
      case 'find':
        return {
          auth: true,
          run: (ctx) => {
            const name = String(param(ctx, 'name') ?? '');
            const found =
              type === 'contract' ? state.contractByName(name) : store.find(type, name, ctx.viewer);
            return found ? ok(found) : NOT_FOUND;
          },
        };
      case 'suggest':
        return {
          auth: true,
          run: (ctx) => {
            // The official JS tutorial sends `name=` instead of `t=`; tolerate both.
            const text = String(param(ctx, 't') ?? param(ctx, 'name') ?? '');
            const limit = num(param(ctx, 'l')) ?? 10;
            return ok(store.suggest(type, text, limit, ctx.viewer));
          },
        };
      case 'deps':
      case 'ldeps':
        return {
          auth: true,
          run: (ctx) => {
            const masters = op === 'deps' ? ids(param(ctx, 'masterid')) : ids(param(ctx, 'masterids'));
            const found = store.deps(type, masters, ctx.viewer);
            return found ? ok(found) : NOT_FOUND;
          },
        };
      default:
        return undefined;
    }
  }

  private buildRoutes(): Map<string, Route> {
    const { auth, state } = this.deps;
    const actor = (ctx: AuthedContext) => ({ user: ctx.user, session: ctx.session });
    return new Map<string, Route>([
      ['auth/accesstokenrequest', { auth: false, run: (ctx) => ok(auth.accessTokenRequest(ctx.body)) }],
      ['auth/oauthtoken', { auth: false, run: (ctx) => ok(auth.oauthToken(ctx.body)) }],
      ['auth/renewaccesstoken', { auth: true, run: (ctx) => ok(auth.renew(ctx.session)) }],
      ['auth/me', { auth: true, run: (ctx) => ok(auth.me(ctx.session)) }],
      [
        'user/syncrequest',
        {
          auth: true,
          run: (ctx) =>
            ok(
              state.syncSnapshot(
                ctx.user,
                state.syncScope(ctx.user, ctx.body, this.deps.syncRequiresEntityTypes),
              ),
            ),
        },
      ],
      ['order/placeorder', { auth: true, run: (ctx) => state.placeOrder(actor(ctx), ctx.body) }],
      ['order/placeoso', { auth: true, run: (ctx) => state.placeOso(actor(ctx), ctx.body) }],
      ['order/modifyorder', { auth: true, run: (ctx) => state.modifyOrder(actor(ctx), ctx.body) }],
      ['order/cancelorder', { auth: true, run: (ctx) => state.cancelOrder(actor(ctx), ctx.body) }],
      [
        'order/liquidateposition',
        { auth: true, run: (ctx) => state.liquidatePosition(actor(ctx), ctx.body) },
      ],
      [
        'orderstrategy/startorderstrategy',
        { auth: true, run: (ctx) => state.startOrderStrategy(actor(ctx), ctx.body) },
      ],
      [
        'orderstrategy/interruptorderstrategy',
        { auth: true, run: (ctx) => state.interruptOrderStrategy(actor(ctx), ctx.body) },
      ],
      [
        'cashbalance/getcashbalancesnapshot',
        { auth: true, run: (ctx) => state.cashBalanceSnapshot(actor(ctx), ctx.body) },
      ],
    ]);
  }
}

/** Logical failures count towards `failures`-only endpoint limits (a wrong password, a refused refresh). */
function isFailure(response: ApiResponse): boolean {
  if (response.status < 200 || response.status >= 300) return true;
  const b = response.body;
  if (typeof b !== 'object' || b === null) return false;
  const r = b as Record<string, unknown>;
  return Boolean(r.errorText || r.error || r.failureReason);
}
