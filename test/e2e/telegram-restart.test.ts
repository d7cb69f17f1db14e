/**
 * The Telegram inbox across restarts: real telegraf against the fake Bot API server, the service on
 * PGlite, the paper exchange as the broker. An update is recorded before Telegram may forget it; one
 * a stopped process recorded but did not finish runs at the next start, once; one that waited too
 * long, in the inbox or at Telegram while the service was down, is answered instead of run.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTelegram, type TelegramTransport } from '../../bots/telegram/index.js';
import { SIGNAL_FRESH_MS } from '../../src/index.js';
import { FakeTelegram, type StoredMessage, type Update } from '../fakes/telegram/server.js';
import { startTestApp, type TestApp, waitFor } from '../helpers/app.js';
import { addUser, netPositions } from '../helpers/fixtures.js';
import { testSecret } from '../helpers/log.js';

const BOT_ID = 7_000_000_300;
/** This bot's inbox: update ids are unique per bot. */
const INBOX = `telegram:${BOT_ID}`;

describe('the Telegram inbox across restarts', () => {
  const token = `100300:${testSecret('telegram-token')}`;
  let t: TestApp;
  let fake: FakeTelegram;
  let bot: TelegramTransport | null = null;
  let testStart = 0;
  const floor = FakeTelegram.group(-1002002, 'Restart floor');

  async function trader(id: number, name: string, accounts: number) {
    const tg = FakeTelegram.user(id, name, name.toLowerCase());
    const user = await addUser(t.app, {
      platform: 'telegram',
      externalId: String(id),
      roles: ['trader'],
      accounts,
      name,
    });
    return { tg, user };
  }

  /** Stop the running bot, if any, and start a new one: what a restarted service does. */
  async function restart(): Promise<TelegramTransport> {
    await bot?.stop();
    bot = await startTelegram(t.app, { token, apiRoot: fake.apiRoot });
    return bot;
  }

  function botMessages(pattern: RegExp): StoredMessage[] {
    return fake.botMessages(floor.id).filter((m) => m.serial > testStart && pattern.test(m.plain));
  }

  const logLine = (text: string, updateId: number) =>
    waitFor(
      () => t.logs.lines.find((l) => l.includes(text) && l.includes(`"updateId":${updateId}`)),
      `"${text}" for update ${updateId}`,
    );

  /**
   * Slow the inbox's writes: the n-th waits `delayMs(n)` first, and `written` runs after each.
   * Returns the undo.
   */
  function slowInbox(delayMs: (call: number) => number, written: () => void = () => {}): () => void {
    const inbox = t.app.stores.inbox;
    const record = inbox.record.bind(inbox);
    let calls = 0;
    inbox.record = async (...args) => {
      await new Promise((r) => setTimeout(r, delayMs(calls++)));
      const fresh = await record(...args);
      written();
      return fresh;
    };
    return () => {
      inbox.record = record;
    };
  }

  /** The bot's answer, in this test, that an update `minutes` old was not executed. */
  const lateAnswer = (minutes: number) =>
    waitFor(
      () =>
        botMessages(
          new RegExp(
            `Not executed: this is ${minutes} min old \\(the service was down or restarting when it arrived\\)`,
          ),
        )[0],
      `the answer that a ${minutes}-minute-old update was not executed`,
    );

  const messageId = (update: Update) => (update.message as { message_id: number }).message_id;

  beforeAll(async () => {
    t = await startTestApp('pglite', { PUBLIC_URL: 'http://127.0.0.1:9' });
    fake = await FakeTelegram.start({ token, username: 'TradecastRestartBot', botId: BOT_ID });
  });
  beforeEach(() => {
    testStart = fake.messageSerial;
  });
  afterAll(async () => {
    await bot?.stop();
    await fake?.close();
    await t?.stop();
  });

  it('records an update before telegraf asks for the next ones (which tells Telegram to forget it)', async () => {
    await restart();
    const cleo = await trader(3001, 'Cleo', 1);
    let recordedAt = 0;
    // A slow database: the write takes 300 ms. Telegram must not be told to forget the update before it ends.
    const restore = slowInbox(
      () => 300,
      () => {
        recordedAt = Date.now();
      },
    );
    try {
      const [update] = fake.pushUpdate(fake.command(floor, cleo.tg, '/positions'));
      const id = update!.update_id;
      await logLine('telegram update handled', id);
      // The poll after it waits for news (a long poll is recorded when answered): give it some.
      const [thanks] = fake.pushUpdate(fake.message(floor, cleo.tg, 'thanks'));
      const confirmed = await fake.waitForCall(
        (c) => c.method === 'getUpdates' && Number(c.params.offset ?? 0) > id,
        'a poll confirming the update',
      );
      expect(recordedAt).toBeGreaterThan(0);
      expect(confirmed.at).toBeGreaterThanOrEqual(recordedAt);
      await logLine('telegram update handled', thanks!.update_id);
    } finally {
      restore();
    }
    expect(await t.app.stores.inbox.pending(INBOX)).toEqual([]);
  });

  it('runs a command a stopped process recorded but did not finish, once, and ignores its redelivery', async () => {
    await bot?.stop();
    bot = null;
    const dana = await trader(3002, 'Dana', 2);
    const update = { ...fake.command(floor, dana.tg, '/buy MNQ 1 tp=20 sl=10'), update_id: 7001 } as Update;
    // What the stopped process left: the update recorded (so Telegram was told to forget it), no outcome.
    expect(await t.app.stores.inbox.record(INBOX, 7001, update, new Date())).toBe(true);
    const signalsBefore = (await t.app.stores.signals.recentHeads(1000)).length;

    await restart();
    await logLine('running a telegram update taken before the restart', 7001);
    await waitFor(() => botMessages(/2 account\(s\): filled 2/)[0], 'the summary of the replayed /buy');
    expect(netPositions(t.app, dana.user.brokerAccountIds)).toEqual([1, 1]);
    await logLine('telegram update handled', 7001);
    expect(await t.app.stores.inbox.pending(INBOX)).toEqual([]);

    // A new process (nothing in memory) gets the same update again from Telegram: it is not run twice.
    await restart();
    fake.pushUpdate(update);
    await logLine('telegram update dropped: recorded before', 7001);
    expect(netPositions(t.app, dana.user.brokerAccountIds)).toEqual([1, 1]);
    expect((await t.app.stores.signals.recentHeads(1000)).length).toBe(signalsBefore + 1);
  });

  it('an update answered but not marked handled before the stop: the run after the restart takes that answer over', async () => {
    await restart();
    const ivy = await trader(3007, 'Ivy', 1);
    const inbox = t.app.stores.inbox;
    const handled = inbox.handled.bind(inbox);
    // The process stops between showing its answer and marking the update handled.
    inbox.handled = async () => {};
    let update: Update | undefined;
    try {
      [update] = fake.pushUpdate(fake.command(floor, ivy.tg, '/buy MNQ 1'));
      await logLine('telegram update handled', update!.update_id);
    } finally {
      inbox.handled = handled;
    }
    const [answer, ...others] = fake.botMessages(floor.id).filter((m) => m.replyTo === messageId(update!));
    expect(others).toEqual([]);
    expect(answer!.plain).toMatch(/1 account\(s\): filled 1/);
    // The inbox row knows which message answers it.
    expect(await inbox.pending(INBOX)).toEqual([
      expect.objectContaining({ updateId: update!.update_id, replyMessageId: answer!.message_id }),
    ]);
    const editsBefore = fake.callsOf('editMessageText', floor.id).length;

    await restart();
    await waitFor(async () => (await inbox.pending(INBOX)).length === 0, 'the replayed update to be handled');
    // The same message now holds the outcome of its own signal; nothing new replies to the update.
    expect(fake.botMessages(floor.id).filter((m) => m.replyTo === messageId(update!))).toHaveLength(1);
    const edits = fake.callsOf('editMessageText', floor.id).slice(editsBefore);
    expect(edits.map((c) => c.params.message_id)).toEqual([answer!.message_id]);
    const shown = fake.botMessage(floor.id, answer!.message_id)!;
    expect(shown.plain).toMatch(/1 account\(s\): filled 1/);
    expect(shown.plain).not.toMatch(/Already received/);
    expect(netPositions(t.app, ivy.user.brokerAccountIds)).toEqual([1]);
  });

  it('answers a recorded command that waited past the window instead of running it, and leaves chatter alone', async () => {
    await bot?.stop();
    bot = null;
    const eli = await trader(3003, 'Eli', 1);
    const old = new Date(Date.now() - SIGNAL_FRESH_MS - 4 * 60_000);
    // Sent, and recorded, five minutes ago.
    const date = Math.floor(old.getTime() / 1000);
    const buy = { ...fake.command(floor, eli.tg, '/buy MNQ 1', { date }), update_id: 8_000_002 } as Update;
    const chatter = {
      ...fake.message(floor, eli.tg, 'good morning all', { date }),
      update_id: 8_000_003,
    } as Update;
    await t.app.stores.inbox.record(INBOX, 8_000_002, buy, old);
    await t.app.stores.inbox.record(INBOX, 8_000_003, chatter, old);
    const signalsBefore = (await t.app.stores.signals.recentHeads(1000)).length;

    await restart();
    const answer = await lateAnswer(5);
    expect(answer.replyTo).toBe(messageId(buy));
    await logLine('telegram update handled', 8_000_003);
    expect(fake.botMessages(floor.id).filter((m) => m.replyTo === messageId(chatter))).toEqual([]);
    expect(netPositions(t.app, eli.user.brokerAccountIds)).toEqual([0]);
    expect((await t.app.stores.signals.recentHeads(1000)).length).toBe(signalsBefore);
    expect(await t.app.stores.inbox.pending(INBOX)).toEqual([]);
  });

  it('answers a command Telegram held while the service was down instead of running it late', async () => {
    await restart();
    const fay = await trader(3004, 'Fay', 1);
    const sentAt = Math.floor((Date.now() - SIGNAL_FRESH_MS) / 1000) - 9 * 60;
    const signalsBefore = (await t.app.stores.signals.recentHeads(1000)).length;
    const [buy, chatter] = fake.pushUpdate(
      fake.command(floor, fay.tg, '/buy MNQ 1', { date: sentAt }),
      fake.message(floor, fay.tg, 'anyone around?', { date: sentAt }),
    );
    const answer = await lateAnswer(10);
    expect(answer.replyTo).toBe(messageId(buy!));
    await logLine('telegram update handled', chatter!.update_id);
    expect(fake.botMessages(floor.id).filter((m) => m.replyTo === messageId(chatter!))).toEqual([]);
    expect(netPositions(t.app, fay.user.brokerAccountIds)).toEqual([0]);
    expect((await t.app.stores.signals.recentHeads(1000)).length).toBe(signalsBefore);

    // A message sent now still runs.
    fake.pushUpdate(fake.command(floor, fay.tg, '/buy MNQ 1'));
    await waitFor(() => botMessages(/1 account\(s\): filled 1/)[0], 'the summary of a timely /buy');
    expect(netPositions(t.app, fay.user.brokerAccountIds)).toEqual([1]);
  });

  it('a late update that already became a signal is not called unexecuted: it points at the signal', async () => {
    await bot?.stop();
    bot = null;
    const gus = await trader(3005, 'Gus', 1);
    const old = new Date(Date.now() - 5 * 60_000);
    const buy = {
      ...fake.command(floor, gus.tg, '/buy MNQ 1', { date: Math.floor(old.getTime() / 1000) }),
      update_id: 8_000_005,
    } as Update;
    // The stopped process had submitted the signal (it traded) but not finished the update.
    const principal = { platform: 'telegram' as const, userId: '3005', chatId: String(floor.id) };
    const first = await t.app.commands.runText(principal, '/buy MNQ 1', {
      dedupKey: `telegram:${floor.id}:${messageId(buy)}`,
    });
    expect(first.kind).toBe('fanout');
    expect(netPositions(t.app, gus.user.brokerAccountIds)).toEqual([1]);
    await t.app.stores.inbox.record(INBOX, 8_000_005, buy, old);

    await restart();
    const reply = await waitFor(
      () => fake.botMessages(floor.id).find((m) => m.serial > testStart && m.replyTo === messageId(buy)),
      'the answer to the recorded /buy',
    );
    expect(reply.plain).toMatch(/Already received as signal #\d+; nothing was sent again/);
    expect(reply.plain).not.toMatch(/Not executed/);
    expect(netPositions(t.app, gus.user.brokerAccountIds)).toEqual([1]);
  });

  it('runs the updates of one poll in the order they arrived', async () => {
    await restart();
    const hal = await trader(3006, 'Hal', 1);
    // The first update's write is the slow one: the second must still run after it.
    const restore = slowInbox((call) => (call === 0 ? 200 : 0));
    try {
      const [buy, flatten] = fake.pushUpdate(
        fake.command(floor, hal.tg, '/buy MNQ 1'),
        fake.command(floor, hal.tg, '/flatten MNQ'),
      );
      await logLine('telegram update handled', flatten!.update_id);
      await logLine('telegram update handled', buy!.update_id);
    } finally {
      restore();
    }
    // Bought, then flattened: flat. The other order would leave the position open.
    expect(netPositions(t.app, hal.user.brokerAccountIds)).toEqual([0]);
  });
});
