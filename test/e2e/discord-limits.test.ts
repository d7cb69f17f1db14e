/**
 * The Discord rendering at sizes no chat test reaches: 10,000 accounts, hundreds of distinct reasons,
 * long names. Every view must pass the same limit checks the fake Discord applies (Discord refuses
 * the whole message otherwise).
 */
import { describe, expect, it } from 'vitest';
import {
  fitLines,
  parseCustomId,
  renderDetails,
  renderNotification,
  renderReply,
  splitText,
  type View,
} from '../../bots/discord/render.js';
import type { AccountOutcome, CommandReply, FanoutSummary } from '../../src/index.js';
import { LIMITS, messageViolations } from '../fakes/discord/limits.js';

/** The JSON Discord would receive for a view. */
function wire(view: View) {
  return {
    content: view.content,
    embeds: view.embeds,
    components: (view.components ?? []).map((row) => row.toJSON()),
  };
}

const long = (n: number, word: string) => Array.from({ length: n }, () => word).join(' ');

function hugeSummary(accounts: number): FanoutSummary {
  const kinds: AccountOutcome['kind'][] = ['filled', 'working', 'flat', 'rejected', 'skipped', 'unknown'];
  const outcomes: AccountOutcome[] = Array.from({ length: accounts }, (_, i) => {
    const kind = kinds[i % kinds.length]!;
    return {
      accountId: String(i + 1),
      accountName: `**Prop_Firm_Evaluation** @everyone ${'x'.repeat(40)} ${i + 1}`,
      kind,
      quantity: kind === 'skipped' ? 0 : 2,
      contract: 'MNQZ6',
      reason:
        kind === 'rejected' || kind === 'skipped' || kind === 'unknown'
          ? `Rule${i % 700}: "daily loss", ${long(40, 'limit')}\nsecond line`
          : null,
      brokerOrderIds: kind === 'skipped' ? [] : [String(900_000 + i)],
      elapsedMs: 10 + (i % 997),
    };
  });
  const byReason = (kind: AccountOutcome['kind']) => {
    const counts = new Map<string, number>();
    for (const o of outcomes) {
      if (o.kind !== kind) continue;
      const code = o.reason!.split(':')[0]!;
      counts.set(code, (counts.get(code) ?? 0) + 1);
    }
    return [...counts].map(([reason, count]) => ({ reason: `${reason} ${long(20, 'why')}`, count }));
  };
  const count = (kind: AccountOutcome['kind']) => outcomes.filter((o) => o.kind === kind).length;
  return {
    signalId: '123456789',
    action: 'buy',
    symbol: 'MNQ',
    duplicateOf: null,
    accounts,
    filled: count('filled'),
    working: count('working'),
    flat: count('flat'),
    rejected: byReason('rejected'),
    skipped: byReason('skipped'),
    unknown: count('unknown'),
    durationMs: 754_321,
    slowest: outcomes.slice(0, 3).map((o) => ({ accountName: o.accountName, elapsedMs: o.elapsedMs })),
    outcomes,
  };
}

describe('Discord rendering stays within Discord’s limits', () => {
  const summary = hugeSummary(10_000);

  it('a 10,000-account summary with hundreds of distinct reasons', () => {
    const view = renderReply({ kind: 'fanout', summary, duplicate: false }, { details: true });
    expect(messageViolations(wire(view))).toEqual([]);
    const text = JSON.stringify(view.embeds);
    expect(text).toContain('more reasons (Details lists every account)');
    expect(
      parseCustomId((wire(view).components[0]!.components[0] as { custom_id: string }).custom_id),
    ).toEqual({
      action: 'details',
      signalId: '123456789',
    });
  });

  it('its details: the embed says how many are left out and the attached file holds every account', async () => {
    const view = renderDetails(summary);
    expect(messageViolations(wire(view))).toEqual([]);
    expect(view.embeds![0]!.description).toMatch(/… and \d+ more in the attached file$/);
    const file = view.files![0]!;
    const csv = String(file.attachment);
    expect(csv.trim().split('\n')).toHaveLength(10_001);
    // A reason with commas and quotes is one quoted cell, its line breaks folded.
    expect(csv).toContain('"Rule3: ""daily loss"", limit limit');
  });

  it('positions, accounts, status and help with very many rows', () => {
    const positions: CommandReply = {
      kind: 'positions',
      accounts: 10_000,
      rows: Array.from({ length: 10_000 }, (_, i) => ({
        accountId: String(i),
        accountName: `account ${'y'.repeat(80)} ${i}`,
        contract: 'MNQZ6',
        netQuantity: (i % 5) - 2,
        averagePrice: 21_500.25,
        workingOrders: 2,
      })),
      failures: [{ accountName: 'broken', reason: long(500, 'timeout') }],
    };
    const accounts: CommandReply = {
      kind: 'accounts',
      rows: Array.from({ length: 5000 }, (_, i) => ({
        id: String(i),
        name: `name ${'z'.repeat(200)}`,
        broker: 'tradovate',
        enabled: true,
        multiplier: 1,
        maxQuantity: 3,
        group: 'eval',
        symbolMap: {},
      })),
    };
    const status: CommandReply = {
      kind: 'status',
      halt: { halted: true, reason: long(1000, 'news'), by: 'user:1', at: new Date().toISOString() },
      accounts: 10_000,
      enabledAccounts: 9_999,
      brokers: ['paper', 'tradovate'],
      credentials: Array.from({ length: 400 }, (_, i) => ({
        id: String(i),
        label: `credential ${i}`,
        broker: 'tradovate',
        state: 'ok',
        tokenExpiresAt: new Date(),
        tokenSource: 'oauth',
      })),
    };
    const help: CommandReply = { kind: 'help', text: long(2000, 'help') };
    const usage: CommandReply = {
      kind: 'usage',
      error: { code: 'usage', message: long(1000, 'bad'), usage: '/buy SYMBOL QTY' },
    };
    for (const reply of [positions, accounts, status, help, usage]) {
      expect(messageViolations(wire(renderReply(reply)))).toEqual([]);
    }
  });

  it('a long text notification is split into messages Discord takes', () => {
    const views = renderNotification({
      type: 'text',
      to: { platform: 'discord', chatId: '1' },
      text: `${long(300, 'line')}\n${'w'.repeat(5000)}`,
    });
    expect(views.length).toBeGreaterThan(2);
    for (const view of views) expect(messageViolations(wire(view))).toEqual([]);
    expect(
      views
        .map((v) => v.content)
        .join('')
        .replace(/\n/g, ''),
    ).toBe(`${long(300, 'line')}${'w'.repeat(5000)}`);
  });

  it('fitLines and splitText never exceed their limit', () => {
    const lines = Array.from({ length: 500 }, (_, i) => `${i} ${'v'.repeat(i % 37)}`);
    for (const max of [10, 50, 1024, LIMITS.embedDescription]) {
      expect([...fitLines(lines, max)].length).toBeLessThanOrEqual(max);
      for (const piece of splitText(lines.join('\n'), max))
        expect([...piece].length).toBeLessThanOrEqual(max);
    }
  });
});
