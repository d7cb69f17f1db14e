/** Plain-text rendering of command replies for the local console. */
import type { CommandReply, FanoutProgress, FanoutSummary } from '../../src/index.js';

export function renderReply(reply: CommandReply): string {
  switch (reply.kind) {
    case 'usage':
      return `✗ ${reply.error.message}${reply.error.usage ? `\n  usage: ${reply.error.usage}` : ''}`;
    case 'denied':
      return `✗ denied (${reply.denial.code}): ${reply.denial.message}`;
    case 'error':
      return `✗ ${reply.message}`;
    case 'confirm':
      return `? ${reply.prompt} [y/N]`;
    case 'fanout':
      return renderSummary(reply.summary, reply.duplicate);
    case 'positions': {
      if (reply.rows.length === 0 && reply.failures.length === 0) {
        return `All ${reply.accounts} account(s) are flat with no working orders.`;
      }
      const lines = reply.rows.map(
        (r) =>
          `  ${pad(r.accountName, 14)} ${pad(r.contract, 8)} ${pad(signed(r.netQuantity), 5)} @ ${pad(
            r.netQuantity === 0 ? '-' : r.averagePrice.toString(),
            10,
          )} working ${r.workingOrders}`,
      );
      const failed = reply.failures.map((f) => `  ${f.accountName}: could not read (${f.reason})`);
      return [`Positions over ${reply.accounts} account(s):`, ...lines, ...failed].join('\n');
    }
    case 'accounts':
      if (reply.rows.length === 0) return 'You have no accounts.';
      return [
        `${reply.rows.length} account(s):`,
        ...reply.rows.map(
          (a) =>
            `  ${pad(a.name, 14)} ${pad(a.broker, 9)} ${a.enabled ? 'enabled ' : 'disabled'} ×${a.multiplier}` +
            `${a.maxQuantity !== null ? ` max ${a.maxQuantity}` : ''}${a.group ? ` group ${a.group}` : ''}`,
        ),
      ].join('\n');
    case 'status':
      return [
        `Trading: ${reply.halt.halted ? `HALTED${reply.halt.reason ? ` (${reply.halt.reason})` : ''}` : 'on'}`,
        `Accounts: ${reply.enabledAccounts} enabled of ${reply.accounts}`,
        `Brokers: ${reply.brokers.join(', ')}`,
        `Credentials: ${reply.credentials.length}`,
        ...reply.credentials.map(
          (c) =>
            `  ${pad(c.label, 16)} ${pad(c.broker, 9)} ${pad(c.state, 12)}` +
            `${c.tokenExpiresAt ? ` token until ${c.tokenExpiresAt.toISOString()}` : ''}`,
        ),
      ].join('\n');
    case 'halt':
      return reply.state.halted
        ? `Trading halted${reply.state.reason ? `: ${reply.state.reason}` : ''}. New entries are refused; exits still run.`
        : 'Trading resumed.';
    case 'help':
      return reply.text;
    case 'ok':
      return `✓ ${reply.message}`;
  }
}

export function renderProgress(p: FanoutProgress): string {
  return `… ${p.done}/${p.total} accounts (${Math.round(p.elapsedMs)} ms)`;
}

export function renderSummary(s: FanoutSummary, duplicate: boolean): string {
  const head = duplicate
    ? `Already received (signal #${s.duplicateOf}); nothing sent again.`
    : `Signal #${s.signalId}: ${s.action}${s.symbol ? ` ${s.symbol}` : ''} on ${s.accounts} account(s) in ${Math.round(s.durationMs)} ms`;
  const parts = [
    s.filled ? `filled ${s.filled}` : '',
    s.working ? `working ${s.working}` : '',
    s.flat ? `flat ${s.flat}` : '',
    s.unknown ? `unknown ${s.unknown}` : '',
  ].filter(Boolean);
  const lines = [head];
  if (parts.length) lines.push(`  ${parts.join(' · ')}`);
  for (const r of s.rejected) lines.push(`  rejected ${r.count}: ${r.reason}`);
  for (const r of s.skipped) lines.push(`  skipped ${r.count}: ${r.reason}`);
  const problems = s.outcomes.filter((o) => o.kind === 'rejected' || o.kind === 'unknown');
  for (const o of problems.slice(0, 10)) lines.push(`    ${o.accountName}: ${o.kind} ${o.reason ?? ''}`);
  if (problems.length > 10) lines.push(`    … and ${problems.length - 10} more`);
  return lines.join('\n');
}

const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const signed = (n: number) => (n > 0 ? `+${n}` : `${n}`);
