/**
 * The dashboard's routes. Admins see and change everything; every other signed-in user sees and
 * changes their own credentials, accounts and webhook sources, and the signals that touched their
 * accounts. Every form carries a CSRF token bound to the session's user.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AccountPatch } from '../db/repositories/accounts.js';
import type { SignalHead } from '../db/repositories/signals.js';
import type { AccountRecord, SignalRecord } from '../db/repositories/types.js';
import type { Clock } from '../domain/clock.js';
import type { FanoutSummary } from '../engine/summary.js';
import type { Logger } from '../log.js';
import type { EventHub } from './events.js';
import { type Html, html, type NavItem, page } from './html.js';
import type { HttpStores, ReconcileReport, TradovateExtras } from './ports.js';
import { requireViewer, type Viewer } from './session.js';
import {
  accountsBody,
  type CredentialItem,
  credentialsBody,
  deviceHelpBody,
  reconciliationSection,
  type Scope,
  type SignalRowData,
  type SourceItem,
  signalDetailBody,
  signalsTable,
  visibleSummary,
  webhooksBody,
} from './views.js';
import { createWebhookSource, deleteWebhookSource, parseAllowlist } from './webhook-sources.js';

export interface DashboardDeps {
  readonly stores: HttpStores;
  readonly tradovate: TradovateExtras | null;
  readonly clock: Clock;
  readonly log: Logger;
  readonly hub: EventHub;
  readonly publicUrl: () => string;
  readonly lastReconciliation?: () => ReconcileReport | null | Promise<ReconcileReport | null>;
}

const NAV: readonly NavItem[] = [
  { href: '/dashboard', label: 'Signals' },
  { href: '/dashboard/credentials', label: 'Credentials' },
  { href: '/dashboard/accounts', label: 'Accounts' },
  { href: '/dashboard/webhooks', label: 'Webhooks' },
  { href: '/dashboard/help/device-authorization', label: 'Device authorization' },
];

/** Fixed notices by key: the query string picks one, it never supplies text. */
const NOTICES: Readonly<Record<string, string>> = {
  'api-key-saved': 'API key saved. It is stored encrypted and will not be shown again.',
  'account-saved': 'Account saved.',
  'source-updated': 'Webhook source updated.',
  'source-deleted': 'Webhook source deleted.',
};

const HTML = 'text/html; charset=utf-8';
const RECENT_SIGNALS = 50;

export function registerDashboard(app: FastifyInstance, deps: DashboardDeps): void {
  const { stores, clock, log } = deps;
  const auth = requireViewer({ stores, clock });
  const guarded = { preHandler: auth };
  const writes = { preHandler: [auth, app.csrfProtection] };

  const render = (
    request: FastifyRequest,
    reply: FastifyReply,
    frame: { title: string; current: string; body: Html; live?: boolean; error?: string | null },
    status = 200,
  ) => {
    const viewer = request.viewer!;
    const notice = NOTICES[(request.query as { notice?: string }).notice ?? ''] ?? null;
    return reply
      .code(status)
      .type(HTML)
      .header('cache-control', 'no-store')
      .send(
        page({
          title: frame.title,
          viewer,
          csrf: csrfFor(reply, viewer),
          nav: NAV,
          current: frame.current,
          live: frame.live ?? false,
          notice,
          error: frame.error ?? null,
          body: frame.body,
        }),
      );
  };

  app.get('/', async (_request, reply) => reply.redirect('/dashboard', 302));

  app.get('/dashboard', guarded, async (request, reply) => {
    const viewer = request.viewer!;
    const scope = await scopeOf(stores, viewer);
    const rows = await recentRows(stores, scope);
    const cycle = deps.lastReconciliation ? await deps.lastReconciliation() : null;
    return render(request, reply, {
      title: 'Signals',
      current: '/dashboard',
      live: true,
      body: htmlJoin(reconciliationSection(cycle, scope), signalsTable(rows)),
    });
  });

  app.get<{ Params: { id: string } }>('/dashboard/signals/:id', guarded, async (request, reply) => {
    const viewer = request.viewer!;
    const record = await stores.signals.get(request.params.id);
    const scope = await scopeOf(stores, viewer);
    const row = record ? toRow(record, scope) : null;
    const journal = record ? await stores.journal.listBySignal(record.id) : [];
    const visibleJournal = scope.admin ? journal : journal.filter((e) => scope.accountIds.has(e.accountId));
    if (!record || !row || (!scope.admin && !row.summary && visibleJournal.length === 0)) {
      return render(
        request,
        reply,
        { title: 'Signal not found', current: '/dashboard', body: htmlJoin() },
        404,
      );
    }
    const accountNames = new Map<string, string>();
    for (const o of row.summary?.outcomes ?? []) accountNames.set(o.accountId, o.accountName);
    for (const e of visibleJournal) {
      if (!accountNames.has(e.accountId)) {
        accountNames.set(e.accountId, (await stores.accounts.get(e.accountId))?.name ?? e.accountId);
      }
    }
    return render(request, reply, {
      title: `Signal #${record.id}`,
      current: '/dashboard',
      body: signalDetailBody({
        row,
        outcomes: row.summary?.outcomes ?? [],
        journal: visibleJournal,
        accountNames,
      }),
    });
  });

  app.get('/dashboard/credentials', guarded, async (request, reply) => {
    const viewer = request.viewer!;
    return render(request, reply, {
      title: 'Credentials',
      current: '/dashboard/credentials',
      body: await credentialsPage(deps, viewer, csrfFor(reply, viewer)),
    });
  });

  app.post<{ Params: { id: string }; Body: Record<string, string | undefined> }>(
    '/dashboard/credentials/:id/api-key',
    writes,
    async (request, reply) => {
      const viewer = request.viewer!;
      const credential = await stores.credentials.get(request.params.id);
      if (
        !credential ||
        (!viewer.admin && credential.ownerUserId !== viewer.id) ||
        credential.broker !== 'tradovate'
      ) {
        return render(
          request,
          reply,
          { title: 'Not found', current: '/dashboard/credentials', body: htmlJoin() },
          404,
        );
      }
      const body = request.body ?? {};
      const field = (name: string, max: number) =>
        (typeof body[name] === 'string' ? body[name]!.trim() : '').slice(0, max + 1);
      const cid = field('cid', 64);
      const secret = field('secret', 200);
      const appId = field('appId', 100);
      const deviceId = field('deviceId', 200);
      const problem =
        cid === '' || cid.length > 64
          ? 'Client id (cid): 1 to 64 characters.'
          : secret === '' || secret.length > 200
            ? 'Secret: 1 to 200 characters.'
            : appId.length > 100 || deviceId.length > 200
              ? 'App id or device id is too long.'
              : null;
      if (problem) {
        return render(
          request,
          reply,
          {
            title: 'Credentials',
            current: '/dashboard/credentials',
            error: problem,
            body: await credentialsPage(deps, viewer, csrfFor(reply, viewer)),
          },
          400,
        );
      }
      const now = clock.now();
      await stores.credentials.mergeSecret(
        credential.id,
        {
          // Tradovate documents cid as a number and accepts a string; keep numbers numbers.
          cid: /^\d{1,15}$/.test(cid) ? Number(cid) : cid,
          sec: secret,
          ...(appId ? { appId } : {}),
          ...(deviceId ? { deviceId } : {}),
        },
        { apiKeySetAt: now },
      );
      await stores.audit.record({
        actor: `user:${viewer.id}`,
        action: 'credential.api_key_set',
        subject: `credential:${credential.id}`,
        details: { appId: appId || null, deviceId: deviceId || null },
      });
      log.info({ credentialId: credential.id, userId: viewer.id }, 'credential API key set');
      return reply.redirect('/dashboard/credentials?notice=api-key-saved', 303);
    },
  );

  app.get('/dashboard/accounts', guarded, async (request, reply) => {
    const viewer = request.viewer!;
    return render(request, reply, {
      title: 'Accounts',
      current: '/dashboard/accounts',
      body: await accountsPage(deps, viewer, csrfFor(reply, viewer)),
    });
  });

  app.post<{ Params: { id: string }; Body: Record<string, string | undefined> }>(
    '/dashboard/accounts/:id',
    writes,
    async (request, reply) => {
      const viewer = request.viewer!;
      const account = await stores.accounts.get(request.params.id);
      if (!account || (!viewer.admin && account.ownerUserId !== viewer.id)) {
        return render(
          request,
          reply,
          { title: 'Not found', current: '/dashboard/accounts', body: htmlJoin() },
          404,
        );
      }
      const patch = accountPatch(request.body ?? {});
      if (!patch.ok) {
        return render(
          request,
          reply,
          {
            title: 'Accounts',
            current: '/dashboard/accounts',
            error: `${account.name}: ${patch.message}`,
            body: await accountsPage(deps, viewer, csrfFor(reply, viewer)),
          },
          400,
        );
      }
      await stores.accounts.update(account.id, patch.value);
      await stores.audit.record({
        actor: `user:${viewer.id}`,
        action: 'account.update',
        subject: `account:${account.id}`,
        details: { ...patch.value },
      });
      return reply.redirect(`/dashboard/accounts?notice=account-saved#account-${account.id}`, 303);
    },
  );

  app.get('/dashboard/webhooks', guarded, async (request, reply) => {
    const viewer = request.viewer!;
    return render(request, reply, {
      title: 'Webhook sources',
      current: '/dashboard/webhooks',
      body: await webhooksPage(deps, viewer, csrfFor(reply, viewer), null),
    });
  });

  app.post<{ Body: Record<string, string | undefined> }>(
    '/dashboard/webhooks',
    writes,
    async (request, reply) => {
      const viewer = request.viewer!;
      const body = request.body ?? {};
      const text = (name: string) => (typeof body[name] === 'string' ? body[name]!.trim() : '');
      const fail = async (message: string) =>
        render(
          request,
          reply,
          {
            title: 'Webhook sources',
            current: '/dashboard/webhooks',
            error: message,
            body: await webhooksPage(deps, viewer, csrfFor(reply, viewer), null),
          },
          400,
        );
      if (!viewer.admin && !viewer.roles.includes('trader') && !viewer.roles.includes('provider')) {
        return fail('Your role may not add webhook sources.');
      }
      const ownerUserId = viewer.admin && text('ownerUserId') !== '' ? text('ownerUserId') : viewer.id;
      if (!(await stores.users.get(ownerUserId))) return fail(`There is no user ${ownerUserId}.`);
      const channelId = text('channelId') || null;
      const reportChannelId = text('reportChannelId') || null;
      if (channelId) {
        const channel = await stores.channels.get(channelId);
        if (channel?.role !== 'signal') return fail('Pick a signal channel.');
        // Broadcasts run only for the channel's providers (admins included), so check the owner now
        // rather than refuse every alert later.
        if (!(await stores.channels.isProvider(channelId, ownerUserId))) {
          return fail(
            'The owner is not a provider of that channel. An admin adds providers with /provider add in the channel.',
          );
        }
      }
      if (reportChannelId) {
        const report = await stores.channels.get(reportChannelId);
        if (report?.role !== 'report') return fail('Pick a report channel.');
      }
      const allowlist = parseAllowlist(text('allowedIps'));
      if (!allowlist.ok) return fail(allowlist.error.message);
      const created = await createWebhookSource(
        { stores, publicUrl: deps.publicUrl() },
        { ownerUserId, label: text('label'), channelId, reportChannelId, allowedIps: allowlist.value },
      );
      if (!created.ok) return fail(created.error.message);
      await stores.audit.record({
        actor: `user:${viewer.id}`,
        action: 'webhook_source.create',
        subject: `webhook_source:${created.value.source.id}`,
        details: { ownerUserId, channelId, reportChannelId, allowedIps: allowlist.value },
      });
      // Shown in this answer only; the page is not cached and the token is never stored.
      return render(request, reply, {
        title: 'Webhook sources',
        current: '/dashboard/webhooks',
        body: await webhooksPage(deps, viewer, csrfFor(reply, viewer), {
          url: created.value.url,
          label: created.value.source.label,
        }),
      });
    },
  );

  const ownSource = async (viewer: Viewer, id: string) => {
    const source = await stores.webhookSources.get(id);
    return source && (viewer.admin || source.ownerUserId === viewer.id) ? source : null;
  };

  app.post<{ Params: { id: string }; Body: { enabled?: string } }>(
    '/dashboard/webhooks/:id/enabled',
    writes,
    async (request, reply) => {
      const viewer = request.viewer!;
      const source = await ownSource(viewer, request.params.id);
      if (!source)
        return render(
          request,
          reply,
          { title: 'Not found', current: '/dashboard/webhooks', body: htmlJoin() },
          404,
        );
      const enabled = request.body?.enabled === 'on';
      await stores.webhookSources.setEnabled(source.id, enabled);
      await stores.audit.record({
        actor: `user:${viewer.id}`,
        action: enabled ? 'webhook_source.enable' : 'webhook_source.disable',
        subject: `webhook_source:${source.id}`,
      });
      return reply.redirect('/dashboard/webhooks?notice=source-updated', 303);
    },
  );

  app.post<{ Params: { id: string } }>('/dashboard/webhooks/:id/delete', writes, async (request, reply) => {
    const viewer = request.viewer!;
    const source = await ownSource(viewer, request.params.id);
    if (!source)
      return render(
        request,
        reply,
        { title: 'Not found', current: '/dashboard/webhooks', body: htmlJoin() },
        404,
      );
    await deleteWebhookSource(stores, source.id);
    await stores.audit.record({
      actor: `user:${viewer.id}`,
      action: 'webhook_source.delete',
      subject: `webhook_source:${source.id}`,
    });
    return reply.redirect('/dashboard/webhooks?notice=source-deleted', 303);
  });

  app.get('/dashboard/help/device-authorization', guarded, async (request, reply) =>
    render(request, reply, {
      title: 'Device authorization for live accounts',
      current: '/dashboard/help/device-authorization',
      body: deviceHelpBody(),
    }),
  );

  app.get('/events', guarded, async (request, reply) => {
    const scope = await scopeOf(stores, request.viewer!);
    reply.hijack();
    deps.hub.attach(reply.raw, scope);
  });
}

// ---------------------------------------------------------------------------------------------------

function csrfFor(reply: FastifyReply, viewer: Viewer): string {
  return reply.generateCsrf({ userInfo: viewer.id });
}

function htmlJoin(...parts: Html[]): Html {
  return html`${parts}`;
}

async function scopeOf(stores: HttpStores, viewer: Viewer): Promise<Scope> {
  if (viewer.admin) return { admin: true, accountIds: new Set() };
  const mine = await stores.accounts.listForUser(viewer.id);
  return { admin: false, accountIds: new Set(mine.map((a) => a.id)) };
}

function toRow(record: SignalRecord, scope: Scope): SignalRowData | null {
  const stored = record.summary as FanoutSummary | null;
  const summary = stored ? visibleSummary(stored, scope) : null;
  if (stored && !summary) return null;
  return listedRow(record, summary);
}

/** A summary from its stored totals and some of its outcomes. */
function withOutcomes(
  totals: Readonly<Record<string, unknown>>,
  outcomes: readonly unknown[],
): FanoutSummary {
  return { ...totals, outcomes } as unknown as FanoutSummary;
}

async function recentRows(stores: HttpStores, scope: Scope): Promise<SignalRowData[]> {
  // Lists never read whole summaries (megabytes each at 10,000 accounts): an admin's rows show the
  // stored totals; anyone else sees the signals that reached their accounts, counted over those
  // accounts' outcomes, which the database picks out of each summary.
  if (scope.admin) {
    const heads = await stores.signals.recentHeads(RECENT_SIGNALS);
    return heads.map((h) => listedRow(h, h.totals ? withOutcomes(h.totals, []) : null));
  }
  const mine = [...scope.accountIds];
  const ids = await stores.journal.signalsOf(mine, RECENT_SIGNALS);
  const rows: SignalRowData[] = [];
  for (const record of await stores.signals.withOutcomesOf(ids, mine)) {
    if (!record.totals) continue;
    const summary = visibleSummary(withOutcomes(record.totals, record.outcomes), scope);
    if (summary) rows.push(listedRow(record, summary));
  }
  return rows;
}

function listedRow(head: SignalHead, summary: FanoutSummary | null): SignalRowData {
  return {
    id: head.id,
    at: head.createdAt,
    source: head.source,
    principal: head.principal,
    signal: head.body,
    status: head.status,
    summary,
  };
}

async function credentialsPage(deps: DashboardDeps, viewer: Viewer, csrf: string) {
  const { stores, tradovate } = deps;
  const credentials = await stores.credentials.list(viewer.admin ? {} : { ownerUserId: viewer.id });
  const accounts = viewer.admin
    ? await stores.accounts.listAll()
    : await stores.accounts.listForUser(viewer.id);
  const perCredential = new Map<string, number>();
  for (const a of accounts) perCredential.set(a.credentialId, (perCredential.get(a.credentialId) ?? 0) + 1);
  const names = await userNames(
    stores,
    credentials.map((c) => c.ownerUserId),
  );
  const transport = tradovate ? tradovate.transportStats() : null;
  const items: CredentialItem[] = [];
  for (const c of credentials) {
    const live = tradovate && c.broker === 'tradovate';
    items.push({
      credential: c,
      ownerName: names.get(c.ownerUserId) ?? c.ownerUserId,
      accounts: perCredential.get(c.id) ?? 0,
      liveState: live ? tradovate.credentialState(c.id) : null,
      budget: live ? await tradovate.budgetUsage(c.id) : null,
      socketsOpened: live ? (transport?.socketsOpened.get(c.id) ?? 0) : null,
      editable: viewer.admin || c.ownerUserId === viewer.id,
    });
  }
  return credentialsBody({ items, transport, csrf });
}

async function accountsPage(deps: DashboardDeps, viewer: Viewer, csrf: string) {
  const { stores } = deps;
  const accounts: AccountRecord[] = viewer.admin
    ? await stores.accounts.listAll()
    : await stores.accounts.listForUser(viewer.id);
  const credentials = await stores.credentials.list(viewer.admin ? {} : { ownerUserId: viewer.id });
  const labels = new Map(credentials.map((c) => [c.id, c.label]));
  const names = await userNames(
    stores,
    accounts.map((a) => a.ownerUserId),
  );
  return accountsBody({
    csrf,
    items: accounts.map((account) => ({
      account,
      credentialLabel: labels.get(account.credentialId) ?? account.credentialId,
      ownerName: names.get(account.ownerUserId) ?? account.ownerUserId,
      editable: viewer.admin || account.ownerUserId === viewer.id,
    })),
  });
}

async function webhooksPage(
  deps: DashboardDeps,
  viewer: Viewer,
  csrf: string,
  created: { url: string; label: string } | null,
) {
  const { stores } = deps;
  const sources = await stores.webhookSources.list(viewer.admin ? {} : { ownerUserId: viewer.id });
  const channels = await stores.channels.list();
  const byId = new Map(channels.map((c) => [c.id, c]));
  const names = await userNames(
    stores,
    sources.map((s) => s.ownerUserId),
  );
  const items: SourceItem[] = sources.map((source) => ({
    source,
    ownerName: names.get(source.ownerUserId) ?? source.ownerUserId,
    channel: source.channelId ? (byId.get(source.channelId) ?? null) : null,
    report: source.reportChannelId ? (byId.get(source.reportChannelId) ?? null) : null,
  }));
  const signalChannels = [];
  for (const c of channels) {
    if (c.role !== 'signal') continue;
    if (viewer.admin || (await stores.channels.isProvider(c.id, viewer.id))) signalChannels.push(c);
  }
  return webhooksBody({
    items,
    csrf,
    created,
    signalChannels,
    reportChannels: channels.filter((c) => c.role === 'report'),
    admin: viewer.admin,
    canCreate: viewer.admin || viewer.roles.includes('trader') || viewer.roles.includes('provider'),
  });
}

async function userNames(stores: HttpStores, ids: readonly string[]): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  for (const id of new Set(ids)) names.set(id, (await stores.users.get(id))?.displayName ?? id);
  return names;
}

type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message: string };

/** The account form: enabled, multiplier, max quantity and symbol map, checked before anything is saved. */
export function accountPatch(body: Readonly<Record<string, string | undefined>>): Parsed<AccountPatch> {
  const multiplierText = (body.multiplier ?? '').trim();
  const multiplier = Number(multiplierText);
  if (!/^\d+(\.\d+)?$/.test(multiplierText) || !(multiplier > 0) || multiplier > 1000) {
    return { ok: false, message: `multiplier must be a number above 0 (got ${multiplierText || 'nothing'})` };
  }
  const maxText = (body.maxQuantity ?? '').trim();
  let maxQuantity: number | null = null;
  if (maxText !== '') {
    if (!/^\d{1,6}$/.test(maxText) || Number(maxText) < 1) {
      return {
        ok: false,
        message: `max quantity must be a whole number of at least 1, or empty (got ${maxText})`,
      };
    }
    maxQuantity = Number(maxText);
  }
  const symbolMap: Record<string, string> = {};
  for (const pair of (body.symbolMap ?? '').split(/[,;\n]/)) {
    const entry = pair.trim();
    if (entry === '') continue;
    const m = /^([A-Za-z0-9]{1,6})\s*(?:=|->|→|:)\s*([A-Za-z0-9]{1,6})$/.exec(entry);
    if (!m) return { ok: false, message: `symbol map entries look like NQ=MNQ (got ${entry})` };
    symbolMap[m[1]!.toUpperCase()] = m[2]!.toUpperCase();
  }
  return { ok: true, value: { enabled: body.enabled === 'on', multiplier, maxQuantity, symbolMap } };
}
