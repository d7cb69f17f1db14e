/**
 * Telegram rendering of command replies, in HTML parse mode. Every value that came from outside
 * (account names, reasons, user text) goes through {@link escapeHtml}; every line is balanced HTML
 * on its own, so long texts can be split between lines without breaking a tag.
 */
import type {
  AccountOutcome,
  CommandReply,
  FanoutProgress,
  FanoutSummary,
  Notification,
  Signal,
  UsageError,
} from '../../src/index.js';

/** Telegram's limit on the text of one message, counted after parsing. */
export const MAX_MESSAGE_LENGTH = 4096;

/** Escape text for Telegram's HTML parse mode (`<`, `>`, `&` everywhere; `"` for attributes). */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const code = (text: string) => `<code>${escapeHtml(text)}</code>`;
const bold = (text: string) => `<b>${escapeHtml(text)}</b>`;

/** A short name for what a signal does, e.g. `buy MNQ 2` or `flatten all`. */
export function describeSignal(signal: Signal): string {
  const what = signal.symbol ?? 'all';
  return signal.quantity > 0 ? `${signal.action} ${what} ${signal.quantity}` : `${signal.action} ${what}`;
}

/** Any command reply as HTML; a fan-out as its summary. */
export function renderReply(reply: CommandReply): string {
  switch (reply.kind) {
    case 'usage':
      return renderUsageError(reply.error);
    case 'denied':
      return `⛔ <b>Denied</b> (${escapeHtml(reply.denial.code)}): ${escapeHtml(reply.denial.message)}`;
    case 'error':
      return `✗ ${escapeHtml(reply.message)}`;
    case 'confirm':
      return renderConfirm(reply);
    case 'fanout':
      return renderSummary(reply.summary, reply.duplicate);
    case 'positions': {
      if (reply.rows.length === 0 && reply.failures.length === 0) {
        return `All ${reply.accounts} account(s) are flat with no working orders.`;
      }
      return [
        `<b>Positions over ${reply.accounts} account(s)</b>`,
        ...reply.rows.map(
          (r) =>
            `${code(r.accountName)} ${escapeHtml(r.contract)} ${signed(r.netQuantity)}` +
            `${r.netQuantity === 0 ? '' : ` @ ${r.averagePrice}`} · ${r.workingOrders} working`,
        ),
        ...reply.failures.map((f) => `${code(f.accountName)} could not be read: ${escapeHtml(f.reason)}`),
      ].join('\n');
    }
    case 'accounts':
      if (reply.rows.length === 0) return 'You have no accounts.';
      return [
        `<b>${reply.rows.length} account(s)</b>`,
        ...reply.rows.map(
          (a) =>
            `${code(a.name)} ${escapeHtml(a.broker)} ${a.enabled ? 'enabled' : '<i>disabled</i>'} ×${a.multiplier}` +
            `${a.maxQuantity !== null ? ` max ${a.maxQuantity}` : ''}${a.group ? ` group ${escapeHtml(a.group)}` : ''}`,
        ),
      ].join('\n');
    case 'status':
      return [
        `Trading: ${reply.halt.halted ? `<b>HALTED</b>${reply.halt.reason ? ` (${escapeHtml(reply.halt.reason)})` : ''}` : 'on'}`,
        `Accounts: ${reply.enabledAccounts} enabled of ${reply.accounts}`,
        `Brokers: ${escapeHtml(reply.brokers.join(', '))}`,
        `Credentials: ${reply.credentials.length}`,
        ...reply.credentials.map(
          (c) =>
            `${code(c.label)} ${escapeHtml(c.broker)} ${escapeHtml(c.state)}` +
            `${c.tokenExpiresAt ? ` · token until ${c.tokenExpiresAt.toISOString()}` : ''}`,
        ),
      ].join('\n');
    case 'halt':
      return reply.state.halted
        ? `🛑 Trading halted${reply.state.reason ? `: ${escapeHtml(reply.state.reason)}` : ''}. New entries are refused; exits still run.`
        : '▶️ Trading resumed.';
    case 'help':
      return escapeHtml(reply.text);
    case 'ok':
      return `✓ ${escapeHtml(reply.message)}`;
  }
}

/** A usage error: what is wrong, the command's usage line, and where to find the commands. */
export function renderUsageError(error: UsageError): string {
  const usage = error.usage ? `\nUsage: ${code(error.usage)}` : '';
  const hint = error.code === 'unknown_command' ? '\nSend /help for the list of commands.' : '';
  return `✗ ${escapeHtml(error.message)}${usage}${hint}`;
}

/** A forwarded or posted alert that does not parse: what is wrong and what an alert looks like. */
export function renderAlertError(error: UsageError): string {
  const usage = error.usage ? `\nExpected: ${code(error.usage)}` : '';
  return `✗ Alert not executed: ${escapeHtml(error.message)}${usage}`;
}

/** The question of a confirmation; the buttons go with it. */
export function renderConfirm(reply: Extract<CommandReply, { kind: 'confirm' }>): string {
  const seconds = Math.max(1, Math.round((reply.expiresAt.getTime() - Date.now()) / 1000));
  return `❓ ${escapeHtml(reply.prompt)}\n<i>Only you can confirm; this expires in ${seconds} s.</i>`;
}

/** A fan-out under way: accounts done of all, and the time so far. */
export function renderProgress(progress: FanoutProgress, title: string | null): string {
  const what = title ? `${bold(title)}: ` : '';
  return `⏳ ${what}${progress.done}/${progress.total} accounts · ${seconds(progress.elapsedMs)}`;
}

/**
 * The summary of a fan-out: counts by outcome, rejections and skips by reason, the duration and
 * the slowest accounts. Per-account lines are left to {@link renderDetails}.
 */
export function renderSummary(s: FanoutSummary, duplicate: boolean): string {
  const what = `${s.action}${s.symbol ? ` ${s.symbol}` : ''}`;
  const problems = s.unknown + count(s.rejected);
  const succeeded = s.filled + s.working + s.flat;
  const icon = problems === 0 && s.skipped.length === 0 ? '✅' : succeeded === 0 ? '❌' : '⚠️';
  const lines = duplicate
    ? [`↩️ Already received as signal #${escapeHtml(s.duplicateOf ?? s.signalId)}; nothing was sent again.`]
    : [`${icon} <b>${escapeHtml(what)}</b> · signal #${escapeHtml(s.signalId)}`];
  lines.push(
    `${s.accounts} account(s): filled ${s.filled} · working ${s.working} · flat ${s.flat} · unknown ${s.unknown}`,
  );
  for (const r of s.rejected) lines.push(`rejected ${r.count}: ${escapeHtml(r.reason)}`);
  for (const r of s.skipped) lines.push(`skipped ${r.count}: ${escapeHtml(r.reason)}`);
  if (s.unknown > 0) lines.push('<i>Unknown outcomes are being settled with the broker.</i>');
  const slowest = s.slowest.map((x) => `${escapeHtml(x.accountName)} ${seconds(x.elapsedMs)}`).join(', ');
  lines.push(`took ${seconds(s.durationMs)}${slowest ? ` · slowest: ${slowest}` : ''}`);
  return lines.join('\n');
}

/** One line per account of a fan-out, problems first. */
export function renderDetails(s: FanoutSummary): string {
  const rank: Record<AccountOutcome['kind'], number> = {
    unknown: 0,
    rejected: 1,
    skipped: 2,
    working: 3,
    filled: 4,
    flat: 5,
  };
  const outcomes = [...s.outcomes].sort(
    (a, b) => rank[a.kind] - rank[b.kind] || a.accountName.localeCompare(b.accountName),
  );
  const lines = outcomes.map((o) => {
    const size = o.quantity > 0 ? ` ${o.quantity}` : '';
    const contract = o.contract ? ` ${escapeHtml(o.contract)}` : '';
    const reason = o.reason ? `: ${escapeHtml(o.reason)}` : '';
    return `${code(o.accountName)} ${o.kind}${size}${contract}${reason} · ${seconds(o.elapsedMs)}`;
  });
  return [`<b>Signal #${escapeHtml(s.signalId)}, account by account</b>`, ...lines].join('\n');
}

/** A text or credential notification from the service. */
export function renderNotificationText(
  n: Extract<Notification, { type: 'text' } | { type: 'credential_state' }>,
): string {
  if (n.type === 'text') return escapeHtml(n.text);
  const icon = n.state === 'ok' ? '✅' : n.state === 'locked' ? '🔒' : '⚠️';
  return `${icon} Credential ${bold(n.credentialLabel)} is ${escapeHtml(n.state)}: ${escapeHtml(n.reason)}\n${escapeHtml(n.hint)}`;
}

/**
 * Split HTML into messages of at most `limit` characters, between lines where possible. A single
 * line longer than the limit is cut between characters, closing the tags open at the cut and
 * opening them again in the next part. The raw length bounds the parsed length Telegram counts.
 */
export function splitHtml(html: string, limit = MAX_MESSAGE_LENGTH): string[] {
  const chunks: string[] = [];
  let current = '';
  for (const line of html.split('\n')) {
    for (const piece of line.length > limit ? cutLine(line, limit) : [line]) {
      if (current === '') current = piece;
      else if (current.length + 1 + piece.length <= limit) current += `\n${piece}`;
      else {
        chunks.push(current);
        current = piece;
      }
    }
  }
  chunks.push(current);
  // Telegram refuses a message with nothing visible in it.
  return chunks.map((c) => c.trim()).filter((c) => c.replace(/<[^>]*>/g, '').trim() !== '');
}

const TOKEN = /<[^>]*>|&[#a-zA-Z0-9]{1,10};|[^<&]+|[<&]/g;

function cutLine(line: string, limit: number): string[] {
  const pieces: string[] = [];
  const open: { name: string; tag: string }[] = [];
  const closing = () =>
    open
      .map((t) => `</${t.name}>`)
      .reverse()
      .join('');
  const reopen = () => open.map((t) => t.tag).join('');
  let piece = '';
  const flush = () => {
    pieces.push(piece + closing());
    piece = reopen();
  };
  for (const token of line.match(TOKEN) ?? []) {
    if (token.startsWith('<') && token.length > 1) {
      const close = token.startsWith('</');
      if (!close && piece.length + token.length + closing().length + 8 > limit) flush();
      piece += token;
      if (close) open.pop();
      else open.push({ name: /^<([a-zA-Z0-9-]+)/.exec(token)?.[1] ?? '', tag: token });
      continue;
    }
    if (token.startsWith('&') && token.length > 1) {
      if (piece.length + token.length + closing().length > limit) flush();
      piece += token;
      continue;
    }
    let rest = token;
    while (rest !== '') {
      let room = limit - piece.length - closing().length;
      if (room <= 0) {
        flush();
        // Tags alone could fill a part; take at least one character so the cut always advances.
        room = Math.max(1, limit - piece.length - closing().length);
      }
      let take = Math.min(room, rest.length);
      // Never split a surrogate pair.
      if (take < rest.length && /[\uD800-\uDBFF]/.test(rest[take - 1] ?? '')) take -= 1;
      piece += rest.slice(0, take);
      rest = rest.slice(take);
      if (rest !== '') flush();
    }
  }
  if (piece !== reopen()) pieces.push(piece + closing());
  return pieces;
}

const signed = (n: number) => (n > 0 ? `+${n}` : `${n}`);
const count = (reasons: readonly { count: number }[]) => reasons.reduce((a, r) => a + r.count, 0);

function seconds(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}
