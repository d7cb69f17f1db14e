/**
 * Discord rendering of what the command layer returns: embeds, buttons and text, always within
 * Discord's size limits (a message over any limit is refused outright, so a fan-out over 10,000
 * accounts must still produce a valid message). Pure: no client, no I/O.
 */
import {
  ActionRowBuilder,
  type APIEmbed,
  AttachmentBuilder,
  ButtonBuilder,
  ButtonStyle,
  escapeMarkdown,
} from 'discord.js';
import type {
  AccountOutcome,
  CommandReply,
  FanoutProgress,
  FanoutSummary,
  Notification,
  ReasonCount,
} from '../../src/index.js';

/** Discord's limits on one message (API reference: messages, embeds, components). */
export const LIMITS = {
  content: 2000,
  embedTitle: 256,
  embedDescription: 4096,
  embedFields: 25,
  fieldName: 256,
  fieldValue: 1024,
  footerText: 2048,
  /** Sum of every title, description, field, footer and author of one message's embeds. */
  embedTotal: 6000,
  customId: 100,
} as const;

/** A message to send or an edit to make: every part the transport may set. */
export interface View {
  readonly content?: string;
  readonly embeds?: APIEmbed[];
  readonly components?: ActionRowBuilder<ButtonBuilder>[];
  readonly files?: AttachmentBuilder[];
}

const COLOR = { ok: 0x2e7d32, partial: 0xef6c00, failed: 0xc62828, info: 0x546e7a } as const;

// ---------------------------------------------------------------------------------------------------
// Buttons

/** What a button of ours does, and the token or signal id it carries in its custom id. */
export type ButtonAction =
  | { readonly action: 'confirm'; readonly token: string }
  | { readonly action: 'cancel'; readonly token: string }
  | { readonly action: 'details'; readonly signalId: string };

const PREFIX = 'tc';

export function customId(button: ButtonAction): string {
  const arg = button.action === 'details' ? button.signalId : button.token;
  return `${PREFIX}:${button.action}:${arg}`.slice(0, LIMITS.customId);
}

/** The action of a custom id we made; null for anything else (another bot's buttons, old formats). */
export function parseCustomId(id: string): ButtonAction | null {
  const m = /^tc:(confirm|cancel|details):(.+)$/.exec(id);
  if (!m?.[2]) return null;
  if (m[1] === 'details') return { action: 'details', signalId: m[2] };
  return { action: m[1] as 'confirm' | 'cancel', token: m[2] };
}

function detailsRow(signalId: string): ActionRowBuilder<ButtonBuilder> {
  return new ActionRowBuilder<ButtonBuilder>().addComponents(
    new ButtonBuilder()
      .setCustomId(customId({ action: 'details', signalId }))
      .setLabel('Details')
      .setStyle(ButtonStyle.Secondary),
  );
}

// ---------------------------------------------------------------------------------------------------
// Replies

/**
 * The view of a command reply. `details` adds the Details button under a fan-out summary (the caller
 * keeps the summary for the button to show).
 */
export function renderReply(reply: CommandReply, options: { details?: boolean } = {}): View {
  switch (reply.kind) {
    case 'usage': {
      const usage = reply.error.usage ? `\nUsage: ${inlineCode(reply.error.usage)}` : '';
      return { content: clip(`✗ ${reply.error.message}${usage}`, LIMITS.content) };
    }
    case 'denied':
      return {
        content: clip(`✗ Not allowed (${reply.denial.code}): ${reply.denial.message}`, LIMITS.content),
      };
    case 'error':
      return { content: clip(`✗ ${reply.message}`, LIMITS.content) };
    case 'confirm':
      return renderConfirm(reply);
    case 'fanout':
      return {
        content: '',
        embeds: [summaryEmbed(reply.summary, reply.duplicate)],
        components:
          options.details && !reply.duplicate && reply.summary.outcomes.length > 0
            ? [detailsRow(reply.summary.signalId)]
            : [],
      };
    case 'positions':
      return renderPositions(reply);
    case 'accounts':
      return renderAccounts(reply);
    case 'status':
      return renderStatus(reply);
    case 'halt':
      return {
        content: reply.state.halted
          ? clip(
              `⏸ Trading halted${reply.state.reason ? `: ${reply.state.reason}` : ''}. New entries are refused; exits still run.`,
              LIMITS.content,
            )
          : '▶ Trading resumed.',
      };
    case 'help':
      return {
        embeds: [
          { title: 'Commands', description: clip(reply.text, LIMITS.embedDescription), color: COLOR.info },
        ],
      };
    case 'ok':
      return { content: clip(`✓ ${reply.message}`, LIMITS.content) };
  }
}

function renderConfirm(reply: Extract<CommandReply, { kind: 'confirm' }>): View {
  const expires = Math.floor(reply.expiresAt.getTime() / 1000);
  return {
    content: clip(`⚠ ${reply.prompt}\nThis question expires <t:${expires}:R>.`, LIMITS.content),
    embeds: [],
    components: [
      new ActionRowBuilder<ButtonBuilder>().addComponents(
        new ButtonBuilder()
          .setCustomId(customId({ action: 'confirm', token: reply.token }))
          .setLabel('Confirm')
          .setStyle(ButtonStyle.Danger),
        new ButtonBuilder()
          .setCustomId(customId({ action: 'cancel', token: reply.token }))
          .setLabel('Cancel')
          .setStyle(ButtonStyle.Secondary),
      ),
    ],
  };
}

/** Progress of a fan-out that is still running. */
/** How every progress view begins: a reply that still begins so was left before its result. */
export const PROGRESS_MARK = '⏳ Sending…';

export function renderProgress(p: FanoutProgress): View {
  return {
    content: `${PROGRESS_MARK} ${p.done}/${p.total} accounts answered (${formatMs(p.elapsedMs)})`,
    embeds: [],
    components: [],
  };
}

/** A fan-out summary on its own (channel posts, public copies, notifications). */
export function renderSummary(summary: FanoutSummary, options: { details?: boolean } = {}): View {
  return renderReply({ kind: 'fanout', summary, duplicate: summary.duplicateOf !== null }, options);
}

/**
 * The summary embed: counts of filled / working / flat / unknown, rejections and skips grouped by
 * reason, duration and the slowest accounts. Lists are cut to fit a field, saying how many were left out.
 */
export function summaryEmbed(s: FanoutSummary, duplicate: boolean): APIEmbed {
  const rejected = total(s.rejected);
  const skipped = total(s.skipped);
  const succeeded = s.filled + s.working + s.flat;
  const problems = rejected + s.unknown;
  const color =
    s.accounts === 0
      ? COLOR.info
      : problems === 0 && skipped === 0
        ? COLOR.ok
        : succeeded === 0 && problems > 0
          ? COLOR.failed
          : COLOR.partial;
  const what = `${s.action.toUpperCase()} ${s.symbol ?? 'every symbol'}`;
  const fields: NonNullable<APIEmbed['fields']> = [
    { name: 'Filled', value: String(s.filled), inline: true },
    { name: 'Working', value: String(s.working), inline: true },
    { name: 'Flat', value: String(s.flat), inline: true },
    { name: 'Unknown', value: String(s.unknown), inline: true },
    { name: 'Rejected', value: String(rejected), inline: true },
    { name: 'Skipped', value: String(skipped), inline: true },
  ];
  if (s.rejected.length > 0) fields.push({ name: 'Rejected by reason', value: reasonLines(s.rejected) });
  if (s.skipped.length > 0) fields.push({ name: 'Skipped by reason', value: reasonLines(s.skipped) });
  fields.push({ name: 'Duration', value: formatMs(s.durationMs), inline: true });
  if (s.slowest.length > 0) {
    fields.push({
      name: 'Slowest',
      value: fitLines(
        s.slowest.map((x) => `${escapeMarkdown(x.accountName)} ${formatMs(x.elapsedMs)}`),
        LIMITS.fieldValue,
      ),
      inline: true,
    });
  }
  if (s.unknown > 0) {
    fields.push({
      name: 'Unknown outcome',
      value: fitLines(
        lazy(
          s.outcomes.filter((o) => o.kind === 'unknown'),
          (o) => `${escapeMarkdown(o.accountName)}: ${escapeMarkdown(oneLine(o.reason ?? 'no answer'))}`,
        ),
        LIMITS.fieldValue,
      ),
    });
  }
  return {
    title: clip(
      duplicate
        ? `Already received: ${what} (signal #${s.duplicateOf ?? s.signalId})`
        : `${what} on ${s.accounts} account${s.accounts === 1 ? '' : 's'}`,
      LIMITS.embedTitle,
    ),
    ...(duplicate
      ? { description: 'This was a repeat delivery: nothing was sent again. The first run ended like this:' }
      : {}),
    color,
    fields,
    footer: { text: `Signal #${s.signalId}` },
  };
}

function reasonLines(reasons: readonly ReasonCount[]): string {
  return fitLines(
    lazy(reasons, (r) => `${r.count} × ${escapeMarkdown(oneLine(r.reason))}`),
    LIMITS.fieldValue,
    (n) => `… and ${n} more reason${n === 1 ? '' : 's'} (Details lists every account)`,
  );
}

const total = (rs: readonly ReasonCount[]) => rs.reduce((n, r) => n + r.count, 0);

// ---------------------------------------------------------------------------------------------------
// Details

const KIND_ORDER: Readonly<Record<AccountOutcome['kind'], number>> = {
  unknown: 0,
  rejected: 1,
  skipped: 2,
  working: 3,
  filled: 4,
  flat: 5,
};

/**
 * Per-account detail of a fan-out, problems first. What does not fit in the embed is in an attached
 * CSV file with every account, so nothing is lost at 10,000 accounts.
 */
export function renderDetails(s: FanoutSummary): View {
  const byName = new Intl.Collator('en').compare;
  const outcomes = [...s.outcomes].sort(
    (a, b) => KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || byName(a.accountName, b.accountName),
  );
  const lines = lazy(outcomes, (o) => {
    const qty = o.quantity > 0 ? ` ${o.quantity}` : '';
    const contract = o.contract ? ` ${o.contract}` : '';
    const reason = o.reason ? ` · ${escapeMarkdown(clip(oneLine(o.reason), 300))}` : '';
    return `**${escapeMarkdown(clip(oneLine(o.accountName), 100))}** ${o.kind}${qty}${contract}${reason} · ${formatMs(o.elapsedMs)}`;
  });
  const { text: description, omitted } = fitLinesCounted(
    lines,
    LIMITS.embedDescription,
    (n) => `… and ${n} more in the attached file`,
  );
  const files = omitted > 0 ? [detailsFile(s.signalId, outcomes)] : [];
  return {
    embeds: [
      {
        title: clip(
          `Signal #${s.signalId}: ${s.action} ${s.symbol ?? 'every symbol'}, account by account`,
          256,
        ),
        description: description || 'No accounts were targeted.',
        color: COLOR.info,
        footer: { text: `${s.accounts} account${s.accounts === 1 ? '' : 's'}` },
      },
    ],
    files,
  };
}

function detailsFile(signalId: string, outcomes: readonly AccountOutcome[]): AttachmentBuilder {
  const rows = [
    ['account', 'outcome', 'quantity', 'contract', 'elapsed_ms', 'broker_order_ids', 'reason'],
    ...outcomes.map((o) => [
      oneLine(o.accountName),
      o.kind,
      String(o.quantity),
      o.contract ?? '',
      String(Math.round(o.elapsedMs)),
      o.brokerOrderIds.join(' '),
      oneLine(o.reason ?? ''),
    ]),
  ];
  const csv = `${rows.map((r) => r.map(csvCell).join(',')).join('\n')}\n`;
  return new AttachmentBuilder(Buffer.from(csv, 'utf8'), { name: `signal-${signalId}.csv` });
}

const csvCell = (v: string) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);

// ---------------------------------------------------------------------------------------------------
// Lists

function renderPositions(reply: Extract<CommandReply, { kind: 'positions' }>): View {
  if (reply.rows.length === 0 && reply.failures.length === 0) {
    return { content: `All ${reply.accounts} account(s) are flat with no working orders.` };
  }
  // Unreadable accounts first: they are what needs a look.
  const lines = lazy([...reply.failures, ...reply.rows], (x) => {
    if ('reason' in x)
      return `**${escapeMarkdown(x.accountName)}** could not be read: ${escapeMarkdown(oneLine(x.reason))}`;
    const side = x.netQuantity > 0 ? `+${x.netQuantity}` : String(x.netQuantity);
    const price = x.netQuantity === 0 ? '' : ` @ ${x.averagePrice}`;
    return `**${escapeMarkdown(x.accountName)}** ${x.contract} ${side}${price} · ${x.workingOrders} working`;
  });
  return {
    embeds: [
      {
        title: `Positions over ${reply.accounts} account(s)`,
        description: fitLines(
          lines,
          LIMITS.embedDescription,
          (n) => `… and ${n} more; narrow with account= or group=`,
        ),
        color: COLOR.info,
      },
    ],
  };
}

function renderAccounts(reply: Extract<CommandReply, { kind: 'accounts' }>): View {
  if (reply.rows.length === 0) return { content: 'You have no accounts.' };
  const lines = lazy(
    reply.rows,
    (a) =>
      `**${escapeMarkdown(a.name)}** ${a.broker} · ${a.enabled ? 'enabled' : 'disabled'} · ×${a.multiplier}` +
      `${a.maxQuantity !== null ? ` · max ${a.maxQuantity}` : ''}${a.group ? ` · group ${escapeMarkdown(a.group)}` : ''}`,
  );
  return {
    embeds: [
      {
        title: `${reply.rows.length} account(s)`,
        description: fitLines(lines, LIMITS.embedDescription),
        color: COLOR.info,
      },
    ],
  };
}

function renderStatus(reply: Extract<CommandReply, { kind: 'status' }>): View {
  const credentials = lazy(
    reply.credentials,
    (c) =>
      `**${escapeMarkdown(c.label)}** ${c.broker} · ${c.state}` +
      `${c.tokenExpiresAt ? ` · token until <t:${Math.floor(c.tokenExpiresAt.getTime() / 1000)}:f>` : ''}`,
  );
  return {
    embeds: [
      {
        title: 'Status',
        color: reply.halt.halted ? COLOR.partial : COLOR.ok,
        fields: [
          {
            name: 'Trading',
            value: clip(
              reply.halt.halted ? `Halted${reply.halt.reason ? `: ${reply.halt.reason}` : ''}` : 'On',
              LIMITS.fieldValue,
            ),
            inline: true,
          },
          { name: 'Accounts', value: `${reply.enabledAccounts} enabled of ${reply.accounts}`, inline: true },
          {
            name: 'Brokers',
            value: clip(reply.brokers.join(', ') || 'none', LIMITS.fieldValue),
            inline: true,
          },
          {
            name: `Credentials (${reply.credentials.length})`,
            value: credentials.length ? fitLines(credentials, LIMITS.fieldValue) : 'none',
          },
        ],
      },
    ],
  };
}

// ---------------------------------------------------------------------------------------------------
// Notifications

/** The messages a notification becomes (long text is split over several). */
export function renderNotification(n: Notification): View[] {
  switch (n.type) {
    case 'fanout_progress':
      return [renderProgress(n.progress)];
    case 'fanout_summary':
      return [renderSummary(n.summary)];
    case 'credential_state':
      return [
        {
          embeds: [
            {
              title: clip(`Credential ${n.credentialLabel}: ${n.state.replace('_', ' ')}`, LIMITS.embedTitle),
              description: clip(`${n.reason}\n\n${n.hint}`, LIMITS.embedDescription),
              color: n.state === 'ok' ? COLOR.ok : COLOR.failed,
            },
          ],
        },
      ];
    case 'text':
      return splitText(n.text, LIMITS.content).map((content) => ({ content }));
  }
}

// ---------------------------------------------------------------------------------------------------
// Text helpers

/**
 * Cut text to `max` characters, ending in an ellipsis when cut. Lengths here are UTF-16 units, never
 * fewer than the code points Discord may count, so a text that fits here fits there; a cut never
 * splits a character.
 */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  let out = '';
  for (const ch of text) {
    if (out.length + ch.length > max - 1) break;
    out += ch;
  }
  return `${out}…`;
}

/**
 * Lines to fit: an array, or {@link lazy} lines formatted only when reached (a list of 10,000
 * accounts shows a few dozen; formatting the rest would be wasted).
 */
export interface Lines {
  readonly length: number;
  at(index: number): string | undefined;
}

/** Lines made from items on demand. */
export function lazy<T>(items: readonly T[], format: (item: T) => string): Lines {
  return {
    length: items.length,
    at: (i) => {
      const item = items[i];
      return item === undefined ? undefined : format(item);
    },
  };
}

/**
 * Join lines up to `max` characters; when some do not fit, the last line says how many were left out.
 * A single line longer than the limit is clipped.
 */
export function fitLines(
  lines: Lines,
  max: number,
  more: (n: number) => string = (n) => `… and ${n} more`,
): string {
  return fitLinesCounted(lines, max, more).text;
}

/** {@link fitLines}, also saying how many lines were left out. */
export function fitLinesCounted(
  lines: Lines,
  max: number,
  more: (n: number) => string = (n) => `… and ${n} more`,
): { text: string; omitted: number } {
  const out: string[] = [];
  let used = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = clip(lines.at(i) ?? '', max);
    const cost = line.length + (out.length > 0 ? 1 : 0);
    const left = lines.length - i - 1;
    // Keep room for the "and N more" line unless this is the last line.
    const reserve = left > 0 ? more(left + 1).length + 1 : 0;
    if (used + cost + reserve > max) {
      const omitted = lines.length - i;
      const tail = more(omitted);
      return { text: out.length > 0 ? `${out.join('\n')}\n${tail}` : clip(tail, max), omitted };
    }
    out.push(line);
    used += cost;
  }
  return { text: out.join('\n'), omitted: 0 };
}

/** Collapse whitespace (broker reasons may carry line breaks) so one item stays on one line. */
export function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** Split text into pieces of at most `max` characters, on line breaks where possible. */
export function splitText(text: string, max: number): string[] {
  if (text.length <= max) return [text];
  const pieces: string[] = [];
  let current = '';
  for (const line of text.split('\n')) {
    const candidate = current ? `${current}\n${line}` : line;
    if (candidate.length <= max) {
      current = candidate;
      continue;
    }
    if (current) pieces.push(current);
    // A line longer than a message is cut between characters.
    current = '';
    for (const ch of line) {
      if (current.length + ch.length > max) {
        pieces.push(current);
        current = '';
      }
      current += ch;
    }
  }
  if (current) pieces.push(current);
  return pieces;
}

function inlineCode(text: string): string {
  return `\`${text.replace(/`/g, "'")}\``;
}

export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}
