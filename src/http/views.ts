/**
 * The dashboard's pages as functions from plain data to HTML. The live event stream renders its table
 * rows with the same {@link signalRow}, so a pushed row looks exactly like a loaded one.
 */
import type { AccountRecord, Channel, Credential, WebhookSource } from '../db/repositories/types.js';
import type { JournalEntry } from '../domain/orders.js';
import type { CredentialState, PriceSpec, Principal, Signal } from '../domain/types.js';
import { type AccountOutcome, type FanoutSummary, type ReasonCount, summarize } from '../engine/summary.js';
import { formatDuration, formatTime, type Html, html } from './html.js';
import type { BudgetView, ReconcileReport, TransportView } from './ports.js';

// ---------------------------------------------------------------------------------------------------
// Who sees what

/** What a viewer may see: admins everything, everyone else their own accounts. */
export interface Scope {
  readonly admin: boolean;
  readonly accountIds: ReadonlySet<string>;
}

/**
 * The part of a fan-out a viewer may see: the whole summary for admins; for others the summary of
 * their own accounts' outcomes, or null when none of the accounts was theirs.
 */
export function visibleSummary(summary: FanoutSummary, scope: Scope): FanoutSummary | null {
  if (scope.admin) return summary;
  const mine = summary.outcomes.filter((o) => scope.accountIds.has(o.accountId));
  if (mine.length === 0) return null;
  return {
    ...summarize(
      {
        signalId: summary.signalId,
        action: summary.action,
        symbol: summary.symbol,
        durationMs: summary.durationMs,
      },
      mine,
    ),
    duplicateOf: summary.duplicateOf,
  };
}

// ---------------------------------------------------------------------------------------------------
// Signals

/** One signal as a table row shows it. */
export interface SignalRowData {
  readonly id: string;
  readonly at: Date;
  readonly source: string;
  readonly principal: Principal;
  readonly signal: Signal;
  readonly status: string;
  /** The fan-out summary as the viewer may see it; null before the fan-out finished. */
  readonly summary: FanoutSummary | null;
}

function spec(p: PriceSpec): string {
  switch (p.kind) {
    case 'points':
      return `${p.value}pt`;
    case 'ticks':
      return `${p.value}t`;
    case 'price':
      return `@${p.value}`;
    case 'percent':
      return `${p.value}%`;
  }
}

/** A signal in the chat grammar's words: `BUY MNQ 2 limit 21500 tp 20pt sl 10pt group=apex`. */
export function describeSignal(signal: Signal): string {
  const parts: string[] = [signal.action.toUpperCase(), signal.symbol ?? 'ALL'];
  if (signal.quantity > 0) parts.push(String(signal.quantity));
  if (signal.entry.type === 'limit') parts.push(`limit ${signal.entry.price}`);
  if (signal.takeProfit) parts.push(`tp ${spec(signal.takeProfit)}`);
  if (signal.stopLoss) parts.push(`sl ${spec(signal.stopLoss)}`);
  if (signal.target.all) parts.push('account=all');
  if (signal.target.accounts) parts.push(`account=${signal.target.accounts.join(',')}`);
  if (signal.target.group) parts.push(`group=${signal.target.group}`);
  return parts.join(' ');
}

export function describePrincipal(p: Principal): string {
  const who = `${p.platform}:${p.userId}`;
  return p.displayName ? `${p.displayName} (${who})` : who;
}

const sum = (counts: readonly ReasonCount[]) => counts.reduce((n, c) => n + c.count, 0);
const reasons = (counts: readonly ReasonCount[]) => counts.map((c) => `${c.reason} ×${c.count}`).join(', ');

function countCell(counts: readonly ReasonCount[], kind: string): Html {
  const n = sum(counts);
  return html`<td class="num${n > 0 ? ` kind-${kind}` : ''}"${n > 0 ? html` title="${reasons(counts)}"` : ''}>${n}</td>`;
}

/** One row of the signals table. Its `data-signal-id` lets a live update replace it. */
export function signalRow(row: SignalRowData): Html {
  const s = row.summary;
  const num = (n: number | undefined, kind: string) =>
    html`<td class="num${n ? ` kind-${kind}` : ''}">${n ?? '—'}</td>`;
  return html`<tr data-signal-id="${row.id}">
  <td>${formatTime(row.at)}</td>
  <td><a href="/dashboard/signals/${row.id}">#${row.id}</a></td>
  <td>${row.source}</td>
  <td>${describePrincipal(row.principal)}</td>
  <td><code>${describeSignal(row.signal)}</code></td>
  ${num(s?.accounts, 'accounts')}
  ${num(s?.filled, 'filled')}
  ${num(s?.working, 'working')}
  ${num(s?.flat, 'flat')}
  ${s ? countCell(s.rejected, 'rejected') : html`<td class="num">—</td>`}
  ${s ? countCell(s.skipped, 'skipped') : html`<td class="num">—</td>`}
  ${num(s?.unknown, 'unknown')}
  <td class="num">${s ? formatDuration(s.durationMs) : '—'}</td>
  <td class="status">${row.status}</td>
</tr>`;
}

export function signalsTable(rows: readonly SignalRowData[]): Html {
  return html`<table id="signals">
<thead><tr><th>Received</th><th>Signal</th><th>Source</th><th>By</th><th>Order</th>
<th class="num">Accounts</th><th class="num">Filled</th><th class="num">Working</th><th class="num">Flat</th>
<th class="num">Rejected</th><th class="num">Skipped</th><th class="num">Unknown</th><th class="num">Took</th><th>Status</th></tr></thead>
<tbody>
${rows.length === 0 ? html`<tr class="empty"><td colspan="14" class="muted">No signals yet.</td></tr>` : rows.map(signalRow)}
</tbody>
</table>`;
}

/** The last reconciliation cycle; "no cycle yet" until the job has run once. */
export function reconciliationSection(report: ReconcileReport | null, scope: Scope): Html {
  if (!report) {
    return html`<section id="reconciliation"><h2>Last reconciliation cycle</h2>
<p class="muted">No cycle yet.</p></section>`;
  }
  const results = (
    scope.admin ? report.results : report.results.filter((r) => scope.accountIds.has(r.accountId))
  ).filter((r) => r.findings.length > 0 || r.status !== 'clean');
  const rows = results.flatMap((r) =>
    r.findings.length === 0
      ? [
          html`<tr><td>${r.accountName}</td><td class="kind-${r.status}">${r.status}</td><td colspan="4" class="muted">—</td></tr>`,
        ]
      : r.findings.map(
          (
            f,
          ) => html`<tr><td>${r.accountName}</td><td class="kind-${r.status}">${r.status}</td><td>${f.kind}${f.new ? '' : html` <small class="muted">(known)</small>`}</td>
<td>${f.contract ?? ''}</td><td>${f.detail}</td><td>${f.action}</td></tr>`,
        ),
  );
  return html`<section id="reconciliation"><h2>Last reconciliation cycle</h2>
<p>Cycle ${report.cycle}: started ${formatTime(report.startedAt)}, took ${formatDuration(report.durationMs)}${report.aborted ? ' (stopped early)' : ''}.
${report.checked} of ${report.accounts} account(s) checked: ${report.clean} clean, ${report.busy} busy, ${report.deferred} deferred,
${report.failed} unreadable; ${report.settled} journal row(s) settled, ${report.repaired} repair(s), ${report.newFindings} new finding(s).</p>
${
  rows.length === 0
    ? html`<p class="muted">Nothing to report${scope.admin ? '' : ' on your accounts'}.</p>`
    : html`<table id="reconciliation-findings"><thead><tr><th>Account</th><th>Status</th><th>Finding</th><th>Contract</th><th>Detail</th><th>Action</th></tr></thead>
<tbody>${rows}</tbody></table>`
}</section>`;
}

export function outcomesTable(outcomes: readonly AccountOutcome[]): Html {
  return html`<table id="outcomes"><thead><tr><th>Account</th><th>Outcome</th><th class="num">Contracts</th><th>Contract</th>
<th>Reason</th><th>Broker orders</th><th class="num">After</th></tr></thead><tbody>
${
  outcomes.length === 0
    ? html`<tr><td colspan="7" class="muted">No outcomes.</td></tr>`
    : outcomes.map(
        (
          o,
        ) => html`<tr><td>${o.accountName}</td><td class="kind-${o.kind}">${o.kind}</td><td class="num">${o.quantity}</td>
<td>${o.contract ?? '—'}</td><td>${o.reason ?? ''}</td><td>${o.brokerOrderIds.join(', ')}</td><td class="num">${formatDuration(o.elapsedMs)}</td></tr>`,
      )
}
</tbody></table>`;
}

export function journalTable(
  entries: readonly JournalEntry[],
  accountNames: ReadonlyMap<string, string>,
): Html {
  return html`<table id="journal"><thead><tr><th>Account</th><th>Leg</th><th class="num">Seq</th><th>State</th>
<th>Plan</th><th>Client order id</th><th>Broker orders</th><th>Reason</th><th>Updated</th></tr></thead><tbody>
${
  entries.length === 0
    ? html`<tr><td colspan="9" class="muted">No journal entries.</td></tr>`
    : entries.map((e) => {
        const p = e.plan;
        const plan = [p.side ?? '', p.quantity, p.contract, p.orderType ?? '', p.price ?? p.stopPrice ?? '']
          .filter((x) => x !== '')
          .join(' ');
        return html`<tr><td>${accountNames.get(e.accountId) ?? e.accountId}</td><td>${e.leg}</td><td class="num">${e.seq}</td>
<td class="kind-${e.state}">${e.state}</td><td><code>${plan}</code></td><td><code>${e.clientOrderId}</code></td>
<td>${e.brokerOrderIds.join(', ')}</td><td>${e.reason ?? ''}</td><td>${formatTime(e.updatedAt)}</td></tr>`;
      })
}
</tbody></table>`;
}

export function signalDetailBody(input: {
  readonly row: SignalRowData;
  readonly outcomes: readonly AccountOutcome[];
  readonly journal: readonly JournalEntry[];
  readonly accountNames: ReadonlyMap<string, string>;
}): Html {
  const { row } = input;
  return html`<dl class="facts">
<dt>Order</dt><dd><code>${describeSignal(row.signal)}</code></dd>
<dt>Received</dt><dd>${formatTime(row.at)} from ${row.source}, by ${describePrincipal(row.principal)}</dd>
<dt>Status</dt><dd>${row.status}${row.summary ? ` after ${formatDuration(row.summary.durationMs)}` : ''}</dd>
</dl>
${signalsTable([row])}
<h2>Per account</h2>
${outcomesTable(input.outcomes)}
<h2>Journal</h2>
${journalTable(input.journal, input.accountNames)}`;
}

// ---------------------------------------------------------------------------------------------------
// Credentials

export interface CredentialItem {
  readonly credential: Credential;
  readonly ownerName: string;
  readonly accounts: number;
  /** The adapter's view of the credential (Tradovate only). */
  readonly liveState: CredentialState | null;
  readonly budget: BudgetView | null;
  readonly socketsOpened: number | null;
  /** Whether the viewer may set its API key. */
  readonly editable: boolean;
}

function budgetCell(budget: BudgetView | null): Html {
  if (!budget) return html`<td class="muted">—</td>`;
  const { limits } = budget;
  return html`<td class="budget"><span title="this second">${budget.second}/${limits.second} s</span> ·
<span title="this minute">${budget.minute}/${limits.minute} min</span> ·
<span title="this hour">${budget.hour}/${limits.hour} h</span></td>`;
}

function apiKeyDialog(item: CredentialItem, csrf: string): Html {
  const id = item.credential.id;
  return html`<dialog id="api-key-${id}" aria-labelledby="api-key-title-${id}">
<form method="post" action="/dashboard/credentials/${id}/api-key" autocomplete="off">
  <h2 id="api-key-title-${id}">API key for ${item.credential.label}</h2>
  <p class="muted">Tradovate → Settings → API Access. Stored encrypted; never shown again.</p>
  <input type="hidden" name="_csrf" value="${csrf}">
  <label>Client id (cid) <input name="cid" required maxlength="64" autocomplete="off"></label>
  <label>Secret <input name="secret" type="password" required maxlength="200" autocomplete="new-password"></label>
  <label>App id <input name="appId" maxlength="100" autocomplete="off"></label>
  <label>Device id <input name="deviceId" maxlength="200" autocomplete="off"></label>
  <div class="actions"><button type="button" data-close>Cancel</button><button type="submit" class="primary">Save</button></div>
</form>
</dialog>`;
}

export function credentialsBody(input: {
  readonly items: readonly CredentialItem[];
  readonly transport: TransportView | null;
  readonly csrf: string;
}): Html {
  const { items, transport, csrf } = input;
  const rows = items.map((item) => {
    const c = item.credential;
    const tradovate = c.broker === 'tradovate';
    const state =
      item.liveState && item.liveState !== c.state ? `${c.state} (adapter: ${item.liveState})` : c.state;
    return html`<tr data-credential-id="${c.id}">
  <td>${c.label}</td><td>${item.ownerName}</td><td>${c.broker}${c.environment === c.broker ? '' : ` ${c.environment}`}</td><td>${c.kind}</td>
  <td>${c.tokenSource ?? '—'}</td><td>${formatTime(c.tokenExpiresAt)}</td>
  <td class="state-${c.state}"${c.stateReason ? html` title="${c.stateReason}"` : ''}>${state}</td>
  ${budgetCell(item.budget)}
  <td class="num">${item.socketsOpened ?? '—'}</td>
  <td class="num">${item.accounts}</td>
  <td class="api-key">${
    tradovate
      ? html`<span class="api-key-state">${c.apiKeySetAt ? `set on ${formatTime(c.apiKeySetAt)}` : 'not set'}</span>
    ${item.editable ? html` <button type="button" data-open="api-key-${c.id}">${c.apiKeySetAt ? 'Rotate' : 'Set'} API key</button>` : ''}`
      : html`<span class="muted">—</span>`
  }</td>
</tr>`;
  });
  return html`${
    transport
      ? html`<p class="muted">Tradovate transport: ${transport.openSockets} open socket(s); ${transport.ws} requests over sockets,
${transport.rest} over REST (${transport.restFallbacks} REST fallbacks).</p>`
      : ''
  }
<table id="credentials"><thead><tr><th>Label</th><th>Owner</th><th>Broker</th><th>Kind</th><th>Token from</th><th>Token expires</th>
<th>State</th><th>Requests used (limit)</th><th class="num">Sockets opened</th><th class="num">Accounts</th><th>API key</th></tr></thead>
<tbody>${items.length === 0 ? html`<tr><td colspan="11" class="muted">No credentials. Send /link to the bot to link a Tradovate login.</td></tr>` : rows}</tbody></table>
${items.filter((i) => i.editable && i.credential.broker === 'tradovate').map((i) => apiKeyDialog(i, csrf))}
<p class="muted">API keys are the last-resort login when the OAuth token cannot be renewed. Live accounts also need an
approved device: see <a href="/dashboard/help/device-authorization">device authorization</a>.</p>`;
}

// ---------------------------------------------------------------------------------------------------
// Accounts

export interface AccountItem {
  readonly account: AccountRecord;
  readonly credentialLabel: string;
  readonly ownerName: string;
  readonly editable: boolean;
}

/** `{"NQ":"MNQ"}` as `NQ=MNQ, ES=MES`, the form the edit field takes. */
export function formatSymbolMap(map: Readonly<Record<string, string>>): string {
  return Object.entries(map)
    .map(([from, to]) => `${from}=${to}`)
    .join(', ');
}

export function accountsBody(input: { readonly items: readonly AccountItem[]; readonly csrf: string }): Html {
  const rows = input.items.map(({ account: a, credentialLabel, ownerName, editable }) => {
    const form = `account-form-${a.id}`;
    const disabled = editable ? '' : html` disabled`;
    return html`<tr id="account-${a.id}" data-account-name="${a.name}">
  <td>${a.name}</td><td>${ownerName}</td><td>${a.broker}</td><td>${credentialLabel}</td><td>${a.group ?? ''}</td>
  <td><input type="checkbox" name="enabled" value="on" form="${form}" aria-label="enabled"${a.enabled ? html` checked` : ''}${disabled}></td>
  <td><input type="number" name="multiplier" value="${a.multiplier}" min="0.01" step="0.01" required form="${form}" aria-label="multiplier"${disabled}></td>
  <td><input type="number" name="maxQuantity" value="${a.maxQuantity ?? ''}" min="1" step="1" placeholder="none" form="${form}" aria-label="max quantity"${disabled}></td>
  <td><input type="text" name="symbolMap" value="${formatSymbolMap(a.symbolMap)}" placeholder="NQ=MNQ, ES=MES" form="${form}" aria-label="symbol map"${disabled}></td>
  <td>${
    editable
      ? html`<form id="${form}" method="post" action="/dashboard/accounts/${a.id}" class="inline">
    <input type="hidden" name="_csrf" value="${input.csrf}"><button type="submit">Save</button></form>`
      : ''
  }</td>
</tr>`;
  });
  return html`<table id="accounts"><thead><tr><th>Account</th><th>Owner</th><th>Broker</th><th>Credential</th><th>Group</th>
<th>Enabled</th><th>Multiplier</th><th>Max quantity</th><th>Symbol map</th><th></th></tr></thead>
<tbody>${input.items.length === 0 ? html`<tr><td colspan="10" class="muted">No accounts.</td></tr>` : rows}</tbody></table>
<p class="muted">Multiplier: contracts per signal contract, rounded down, then capped by the max quantity.
Symbol map: signal product → this account's product, e.g. NQ=MNQ.</p>`;
}

// ---------------------------------------------------------------------------------------------------
// Webhook sources

export interface SourceItem {
  readonly source: WebhookSource;
  readonly ownerName: string;
  readonly channel: Channel | null;
  readonly report: Channel | null;
}

const channelName = (c: Channel) => `${c.title ?? c.chatId} (${c.platform})`;

export function webhooksBody(input: {
  readonly items: readonly SourceItem[];
  readonly csrf: string;
  /** The new source's URL, shown once right after it was made. */
  readonly created: { readonly url: string; readonly label: string } | null;
  readonly signalChannels: readonly Channel[];
  readonly reportChannels: readonly Channel[];
  /** Admins may make sources for other users. */
  readonly admin: boolean;
  readonly canCreate: boolean;
}): Html {
  const { items, csrf } = input;
  const created = input.created
    ? html`<section class="notice" id="created-source"><p>Webhook URL for <strong>${input.created.label}</strong>. Copy it now:
it is shown only once.</p><p><code class="token" id="created-url">${input.created.url}</code></p>
<p class="muted">TradingView: alert → Notifications → Webhook URL. The message may be TradersPost JSON, a line like
<code>BUY MNQ 1 TP 20 SL 10</code>, or <code>action=buy; symbol=MNQ1!; qty=1;</code>.</p></section>`
    : '';
  const rows = items.map(
    ({ source: s, ownerName, channel, report }) => html`<tr data-source-id="${s.id}">
  <td>${s.label}</td><td>${ownerName}</td><td><code>webhook:${s.id}</code></td>
  <td>${channel ? `broadcast to ${channelName(channel)}` : "owner's accounts"}</td>
  <td>${channel ? `${channelName(channel)}${report ? `, ${channelName(report)}` : ''}` : report ? channelName(report) : 'owner privately'}</td>
  <td>${s.allowedIps.length === 0 ? 'any address' : s.allowedIps.join(', ')}</td>
  <td>${formatTime(s.lastUsedAt)}</td>
  <td>${s.enabled ? 'enabled' : 'disabled'}</td>
  <td><form method="post" action="/dashboard/webhooks/${s.id}/enabled" class="inline">
    <input type="hidden" name="_csrf" value="${csrf}"><input type="hidden" name="enabled" value="${s.enabled ? 'off' : 'on'}">
    <button type="submit">${s.enabled ? 'Disable' : 'Enable'}</button></form>
    <form method="post" action="/dashboard/webhooks/${s.id}/delete" class="inline">
    <input type="hidden" name="_csrf" value="${csrf}"><button type="submit">Delete</button></form></td>
</tr>`,
  );
  const option = (c: Channel) => html`<option value="${c.id}">${channelName(c)}</option>`;
  const form = input.canCreate
    ? html`<h2>New source</h2>
<form method="post" action="/dashboard/webhooks" class="stack">
  <input type="hidden" name="_csrf" value="${csrf}">
  <label>Label <input name="label" required maxlength="100" class="wide"></label>
  ${input.admin ? html`<label>Owner user id (empty: you) <input name="ownerUserId" inputmode="numeric" class="wide"></label>` : ''}
  <label>Alerts go to <select name="channelId" class="wide"><option value="">the owner's own accounts</option>${input.signalChannels.map(option)}</select></label>
  <label>Report outcomes in <select name="reportChannelId" class="wide"><option value="">default</option>${input.reportChannels.map(option)}</select></label>
  <label>Allowed addresses (empty: any; one per line, CIDR allowed)
    <textarea name="allowedIps" rows="3" class="wide" placeholder="52.89.214.238&#10;34.212.75.30&#10;54.218.53.128&#10;52.32.178.7"></textarea></label>
  <div class="actions"><button type="submit" class="primary">Create</button></div>
</form>`
    : '';
  return html`${created}
<table id="sources"><thead><tr><th>Label</th><th>Owner</th><th>Identity</th><th>Alerts</th><th>Reports</th><th>Allowed from</th>
<th>Last alert</th><th>State</th><th></th></tr></thead>
<tbody>${items.length === 0 ? html`<tr><td colspan="9" class="muted">No webhook sources.</td></tr>` : rows}</tbody></table>
${form}`;
}

// ---------------------------------------------------------------------------------------------------
// Help

export function deviceHelpBody(): Html {
  return html`<p>Tradovate lets only approved devices trade <strong>live</strong> accounts. Demo accounts do not need this.
A live order refused with "Access denied" (HTTP 401) right after linking is almost always an unapproved device or
two-factor authentication waiting for approval.</p>
<h2>If the login was linked with /link (OAuth)</h2>
<ol class="steps">
<li>Check the e-mail of the Tradovate login: Tradovate sends an approval request when a new application first trades live.</li>
<li>Approve it, then send a small test order from chat, e.g. <code>/buy MNQ 1 account=NAME</code>, and flatten it.</li>
<li>If nothing arrives, sign in on trader.tradovate.com once, then send <code>/link</code> again.</li>
</ol>
<h2>If the credential uses an API key</h2>
<ol class="steps">
<li>In Tradovate: Settings → API Access → create (or pick) the application; note the client id (cid) and secret.</li>
<li>Choose a device id: any stable text unique to this server, e.g. <code>tradecast-prod-1</code>. Keep it: a new
device id is a new device to approve.</li>
<li>On the <a href="/dashboard/credentials">credentials page</a>, use <em>Set API key</em> and enter the cid, secret,
app id (the application's name) and device id.</li>
<li>The first live login from that device id triggers an approval e-mail from Tradovate. Approve it.</li>
<li>Until it is approved, live orders are refused; the bot reports them as rejected, never as filled.</li>
</ol>
<p class="muted">Never paste the secret into chat. It is stored encrypted and this dashboard never shows it again.</p>`;
}
