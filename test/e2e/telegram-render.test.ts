/**
 * The Telegram transport's output on its own: HTML that Telegram accepts whatever the names in it,
 * messages split under 4,096 characters, and progress coalesced into one message, checked against
 * the fake Bot API server (which refuses what Telegram refuses).
 */
import { Telegram } from 'telegraf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TelegramApi } from '../../bots/telegram/api.js';
import { LiveMessage } from '../../bots/telegram/live.js';
import {
  escapeHtml,
  MAX_MESSAGE_LENGTH,
  renderDetails,
  renderReply,
  renderSummary,
  splitHtml,
} from '../../bots/telegram/render.js';
import type { AccountOutcome, FanoutSummary } from '../../src/index.js';
import { parseHtml } from '../fakes/telegram/html.js';
import { FakeTelegram } from '../fakes/telegram/server.js';
import { captureLog, testSecret } from '../helpers/log.js';

const plain = (html: string) => {
  const parsed = parseHtml(html);
  if (!parsed.ok) throw new Error(`${parsed.error}: ${html.slice(0, 200)}`);
  return parsed.plain;
};

function summaryOf(outcomes: AccountOutcome[]): FanoutSummary {
  return {
    signalId: '42',
    action: 'buy',
    symbol: 'MNQ',
    duplicateOf: null,
    accounts: outcomes.length,
    filled: outcomes.filter((o) => o.kind === 'filled').length,
    working: 0,
    flat: 0,
    rejected: [{ reason: 'InvalidPrice', count: outcomes.filter((o) => o.kind === 'rejected').length }],
    skipped: [],
    unknown: 0,
    durationMs: 2345,
    slowest: [{ accountName: '<slow & steady>', elapsedMs: 2300 }],
    outcomes,
  };
}

const outcome = (i: number, kind: AccountOutcome['kind']): AccountOutcome => ({
  accountId: `a${i}`,
  accountName: `Acc<${i}>&"co"`,
  kind,
  quantity: 1,
  contract: 'MNQZ6',
  reason: kind === 'rejected' ? 'InvalidPrice: <below> market & more' : null,
  brokerOrderIds: [],
  elapsedMs: 100 + i,
});

describe('Telegram HTML rendering', () => {
  it('escapes names and reasons so Telegram parses the text and shows them as typed', () => {
    const summary = summaryOf([outcome(1, 'filled'), outcome(2, 'rejected')]);
    const text = plain(renderSummary(summary, false));
    expect(text).toMatch(/2 account\(s\): filled 1 · working 0 · flat 0 · unknown 0/);
    expect(text).toMatch(/rejected 1: InvalidPrice/);
    expect(text).toMatch(/slowest: <slow & steady> 2\.3 s/);
    const details = plain(renderDetails(summary));
    expect(details).toMatch(/Acc<2>&"co" rejected 1 MNQZ6: InvalidPrice: <below> market & more/);
    expect(plain(renderReply({ kind: 'error', code: 'x', message: '<b>not bold</b> & co' }))).toBe(
      '✗ <b>not bold</b> & co',
    );
    expect(escapeHtml('a<b>&"c"')).toBe('a&lt;b&gt;&amp;&quot;c&quot;');
  });

  it('splits long texts between lines, every part valid and within the limit, nothing lost', () => {
    const outcomes = Array.from({ length: 400 }, (_, i) => outcome(i, i % 7 === 0 ? 'rejected' : 'filled'));
    const html = renderDetails(summaryOf(outcomes));
    const parts = splitHtml(html);
    expect(parts.length).toBeGreaterThan(1);
    for (const part of parts) expect(part.length).toBeLessThanOrEqual(MAX_MESSAGE_LENGTH);
    expect(parts.map(plain).join('\n')).toBe(plain(html));
  });

  it('cuts a single line longer than the limit inside tags, closing and reopening them', () => {
    const line = `<b>${'x'.repeat(5000)}</b> tail &amp; <i>${'y &lt; '.repeat(900)}</i>`;
    const parts = splitHtml(line, 1000);
    expect(parts.length).toBeGreaterThan(5);
    for (const part of parts) expect(part.length).toBeLessThanOrEqual(1000);
    expect(parts.map(plain).join('')).toBe(plain(line));
  });
});

describe('one message for a fan-out', () => {
  const token = `100400:${testSecret('telegram-token')}`;
  const chat = FakeTelegram.group(-1004242, 'Progress');
  const { log } = captureLog();
  let fake: FakeTelegram;
  let api: TelegramApi;

  beforeAll(async () => {
    fake = await FakeTelegram.start({ token });
    // The fake learns of a chat when something is said in it.
    fake.message(chat, FakeTelegram.user(1, 'Someone'), 'hello');
    api = new TelegramApi(new Telegram(token, { apiRoot: fake.apiRoot, webhookReply: false }), log);
  });
  afterAll(async () => fake?.close());

  it('coalesces a burst of progress into one edit after the interval, never repeats a text, and ends as the summary', async () => {
    const since = fake.calls.length;
    const live = new LiveMessage({ api, log, chatId: String(chat.id), minEditIntervalMs: 300 });
    for (let i = 1; i <= 50; i++) live.progress(`⏳ ${i}/50 accounts`);
    const edit = await fake.waitForCall(
      (c) => c.seq > since && c.method === 'editMessageText',
      'the coalesced progress edit',
    );
    const sends = fake.calls.slice(since).filter((c) => c.method === 'sendMessage');
    expect(sends.map((c) => c.params.text)).toEqual(['⏳ 1/50 accounts']);
    expect(edit.params.text).toBe('⏳ 50/50 accounts');
    expect(edit.at - sends[0]!.at).toBeGreaterThanOrEqual(300);

    live.progress('⏳ 50/50 accounts');
    const id = await live.finish('✅ <b>buy MNQ</b> done');
    const calls = fake.calls.slice(since);
    expect(calls.filter((c) => c.method === 'editMessageText').map((c) => c.params.text)).toEqual([
      '⏳ 50/50 accounts',
      '✅ <b>buy MNQ</b> done',
    ]);
    expect(calls.every((c) => c.status === 200)).toBe(true);
    expect(fake.botMessage(chat.id, id)!.history).toEqual([
      '⏳ 1/50 accounts',
      '⏳ 50/50 accounts',
      '✅ buy MNQ done',
    ]);

    live.progress('⏳ late');
    expect(fake.calls.length).toBe(since + calls.length);
  });

  it('a final text over 4,096 characters goes out as the message plus follow-ups, all accepted', async () => {
    const since = fake.calls.length;
    const outcomes = Array.from({ length: 300 }, (_, i) => outcome(i, 'filled'));
    const live = new LiveMessage({ api, log, chatId: String(chat.id), minEditIntervalMs: 300 });
    await live.finish(renderDetails(summaryOf(outcomes)));
    const sends = fake.calls.slice(since).filter((c) => c.method === 'sendMessage');
    expect(sends.length).toBeGreaterThan(1);
    expect(sends.every((c) => c.status === 200)).toBe(true);
  });
});
