/**
 * The Telegram bot end to end: real telegraf against the fake Bot API server, the whole service on
 * PGlite, and the paper exchange as the broker. Updates go in through the fake; the assertions read
 * what the bot posted (the fake keeps every message with its edits) and what reached the exchange.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTelegram, type TelegramTransport } from '../../bots/telegram/index.js';
import {
  type FakeChat,
  FakeTelegram,
  type FakeUser,
  type StoredMessage,
  type Update,
} from '../fakes/telegram/server.js';
import { startTestApp, type TestApp, waitFor } from '../helpers/app.js';
import { addSignalChannel, addUser, netPositions } from '../helpers/fixtures.js';
import { testSecret } from '../helpers/log.js';

const queryId = (update: Update) => (update.callback_query as { id: string }).id;

const TV_ALERT =
  '{"ticker":"MNQ1!","action":"buy","quantity":1,"takeProfit":{"amount":20},"stopLoss":{"amount":10}}';

describe('the Telegram bot over long polling', () => {
  const token = `100200:${testSecret('telegram-token')}`;
  let t: TestApp;
  let fake: FakeTelegram;
  let bot: TelegramTransport;
  let testStart = 0;
  const floor = FakeTelegram.group(-1001001, 'Trading floor');

  /** A Telegram person and, when given roles, their tradecast user with paper accounts. */
  async function person(id: number, name: string, roles: ('trader' | 'provider')[], accounts = 0) {
    const tg = FakeTelegram.user(id, name, name.toLowerCase());
    const user =
      roles.length > 0
        ? await addUser(t.app, { platform: 'telegram', externalId: String(id), roles, accounts, name })
        : null;
    return { tg, user };
  }

  /** What the service logged as the fate of an update: every update handled ends with such a line. */
  async function handled(update: Update): Promise<string> {
    const line = await waitFor(
      () =>
        t.logs.lines.find(
          (l) =>
            l.includes('telegram update handled') && new RegExp(`"updateId":${update.update_id}[,}]`).test(l),
        ),
      `update ${update.update_id} to be handled`,
    );
    return (JSON.parse(line) as { outcome: string }).outcome;
  }

  /** The bot's first message in a chat, posted during the current test, that matches now. */
  function botMessage(chat: FakeChat | FakeUser, pattern: RegExp): Promise<StoredMessage> {
    return waitFor(
      () => fake.botMessages(chat.id).find((m) => m.serial > testStart && pattern.test(m.plain)),
      `a bot message in ${chat.id} matching ${pattern}`,
    );
  }

  const workingOrders = (brokerAccountId: string) =>
    t.app.exchange.orders(brokerAccountId).filter((o) => o.status === 'working');
  const signalCount = async () => (await t.app.stores.signals.recentHeads(1000)).length;

  beforeAll(async () => {
    t = await startTestApp('pglite', { PUBLIC_URL: 'http://127.0.0.1:9' });
    fake = await FakeTelegram.start({ token, username: 'TradecastTestBot' });
    bot = await startTelegram(t.app, { token, apiRoot: fake.apiRoot });
  });
  beforeEach(() => {
    testStart = fake.messageSerial;
  });
  afterAll(async () => {
    await bot?.stop();
    await fake?.close();
    await t?.stop();
  });

  it('comes up with getMe, registers every command and long-polls', async () => {
    expect(bot.botName).toBe('TradecastTestBot');
    expect(fake.commands.map((c) => c.command)).toEqual(
      expect.arrayContaining(['buy', 'sell', 'flatten', 'close', 'positions', 'help', 'provider']),
    );
    await fake.waitForCall((c) => c.method === 'deleteWebhook', 'deleteWebhook before polling');
    expect(fake.webhook).toBeNull();
  });

  it('/buy@bot in a group trades the trader’s accounts and edits one message into the summary', async () => {
    const alice = await person(2001, 'Alice', ['trader'], 3);
    const since = fake.calls.length;
    const [update] = fake.pushUpdate(fake.command(floor, alice.tg, `/buy@${bot.botName} MNQ 1 tp=20 sl=10`));
    const summary = await botMessage(floor, /3 account\(s\): filled/);

    // One message was sent for the command; it showed progress and was then edited into the summary.
    const sent = fake.calls.slice(since).filter((c) => c.method === 'sendMessage' && c.status === 200);
    expect(sent).toHaveLength(1);
    expect((sent[0]!.response.result as { message_id: number }).message_id).toBe(summary.message_id);
    expect(summary.replyTo).toBe((update!.message as { message_id: number }).message_id);
    expect(summary.history[0]).toMatch(/^⏳ buy MNQ 1: \d\/3 accounts/);
    expect(summary.history.length).toBeGreaterThanOrEqual(2);

    // The counts in the summary are the broker's state.
    const filled = Number(/filled (\d+)/.exec(summary.plain)![1]);
    const positions = netPositions(t.app, alice.user!.brokerAccountIds);
    expect(positions).toEqual([1, 1, 1]);
    expect(filled).toBe(positions.filter((p) => p === 1).length);
    expect(summary.plain).toMatch(/filled 3 · working 0 · flat 0 · unknown 0/);
    for (const id of alice.user!.brokerAccountIds) expect(workingOrders(id)).toHaveLength(2);
    expect(summary.replyMarkup).toMatchObject({ inline_keyboard: [[{ text: 'Details' }]] });
    expect(await handled(update!)).toBe('command: fanout');
  });

  it('the Details button posts each account’s outcome once', async () => {
    const bea = await person(2002, 'Bea', ['trader'], 2);
    fake.pushUpdate(fake.command(floor, bea.tg, '/sell MNQ 1'));
    const summary = await botMessage(floor, /2 account\(s\): filled 2/);
    const data = (summary.replyMarkup as { inline_keyboard: { callback_data: string }[][] })
      .inline_keyboard[0]![0]!.callback_data;
    const [press] = fake.pushUpdate(fake.callback(bea.tg, summary, data));
    const details = await botMessage(floor, /account by account/);
    expect(details.plain).toMatch(/2002-1 filled 1/);
    expect(details.plain).toMatch(/2002-2 filled 1/);
    expect(details.replyTo).toBe(summary.message_id);
    expect(await handled(press!)).toBe('callback: details');

    const [again] = fake.pushUpdate(fake.callback(bea.tg, summary, data));
    const answer = await fake.waitForCall(
      (c) => c.method === 'answerCallbackQuery' && c.params.callback_query_id === queryId(again!),
      'the answer to the second press',
    );
    expect(answer.params.text).toMatch(/already in the chat/);
    expect(fake.botMessages(floor.id).filter((m) => /account by account/.test(m.plain))).toHaveLength(1);
  });

  it('a forwarded TradingView alert trades the forwarder’s accounts, and forwarding it again executes nothing', async () => {
    const bob = await person(2003, 'Bob', ['trader'], 2);
    const dm = FakeTelegram.privateChat(bob.tg);
    const origin = {
      type: 'channel',
      chat: FakeTelegram.channel(-1009000, 'TradingView alerts'),
      message_id: 77,
      date: Math.floor(Date.now() / 1000) - 30,
    };
    fake.pushUpdate(fake.forwarded(dm, bob.tg, TV_ALERT, origin));
    const summary = await botMessage(bob.tg, /2 account\(s\): filled 2/);
    expect(summary.plain).toMatch(/buy MNQ1!/);
    const accounts = bob.user!.brokerAccountIds;
    expect(netPositions(t.app, accounts)).toEqual([1, 1]);
    for (const id of accounts) expect(workingOrders(id)).toHaveLength(2);

    const orders = t.app.exchange.allOrders().length;
    const signals = await signalCount();
    const [second] = fake.pushUpdate(fake.forwarded(dm, bob.tg, TV_ALERT, origin));
    expect(await handled(second!)).toBe('alert: fanout');
    const duplicate = await botMessage(bob.tg, /Already received as signal #\d+; nothing was sent again/);
    expect(duplicate.message_id).not.toBe(summary.message_id);
    expect(t.app.exchange.allOrders().length).toBe(orders);
    expect(await signalCount()).toBe(signals);
    expect(netPositions(t.app, accounts)).toEqual([1, 1]);
  });

  it('a channel post in a registered signal channel is broadcast to every subscribed account and summarized there', async () => {
    const channel = FakeTelegram.channel(-1005001, 'MNQ signals');
    const provider = await addUser(t.app, {
      platform: 'telegram',
      externalId: String(channel.id),
      roles: ['provider'],
    });
    const carol = await person(2004, 'Carol', ['trader'], 2);
    const dave = await person(2005, 'Dave', ['trader'], 1);
    await addSignalChannel(t.app, {
      platform: 'telegram',
      chatId: String(channel.id),
      providers: [provider],
      subscribers: [...carol.user!.accountIds, ...dave.user!.accountIds],
    });
    const [post] = fake.pushUpdate(fake.channelPost(channel, 'BUY MNQ 1 TP 20 SL 10'));
    const summary = await botMessage(channel, /3 account\(s\): filled 3/);
    expect(summary.replyTo).toBe((post!.channel_post as { message_id: number }).message_id);
    expect(netPositions(t.app, carol.user!.brokerAccountIds)).toEqual([1, 1]);
    expect(netPositions(t.app, dave.user!.brokerAccountIds)).toEqual([1]);
    expect(await handled(post!)).toBe('signal: fanout');
  });

  it('a post in an unregistered channel and a signal from a non-provider in a signal group are not executed', async () => {
    const frank = await person(2006, 'Frank', ['trader'], 1);
    const erin = await person(2007, 'Erin', ['provider']);
    const gus = await person(2008, 'Gus', ['trader'], 1);
    const group = FakeTelegram.group(-1005002, 'Signals group');
    await addSignalChannel(t.app, {
      platform: 'telegram',
      chatId: String(group.id),
      providers: [erin.user!],
      subscribers: frank.user!.accountIds,
    });
    const stranger = FakeTelegram.channel(-1005003, 'Someone else’s channel');
    const orders = t.app.exchange.allOrders().length;
    const signals = await signalCount();

    const [unregistered] = fake.pushUpdate(fake.channelPost(stranger, 'BUY MNQ 1 TP 20 SL 10'));
    const [notProvider] = fake.pushUpdate(fake.message(group, gus.tg, 'BUY MNQ 1 TP 20 SL 10'));
    expect(await handled(unregistered!)).toBe('ignored: not a signal channel');
    expect(await handled(notProvider!)).toBe('signal: denied not_provider');
    expect(fake.botMessages(stranger.id)).toEqual([]);
    expect(fake.botMessages(group.id)).toEqual([]);
    expect(t.app.exchange.allOrders().length).toBe(orders);
    expect(await signalCount()).toBe(signals);
    expect(netPositions(t.app, frank.user!.brokerAccountIds)).toEqual([0]);
    expect(t.logs.text()).toMatch(/signal post not executed: the sender may not broadcast here/);

    // The group's own provider is heard, so the silence above was the sender, not the group.
    fake.pushUpdate(fake.message(group, erin.tg, 'BUY MNQ 1 TP 20 SL 10'));
    await botMessage(group, /1 account\(s\): filled 1/);
    expect(netPositions(t.app, frank.user!.brokerAccountIds)).toEqual([1]);
  });

  it('an unregistered user and a user without a role in a trading group are denied with a clear reply', async () => {
    const orders = t.app.exchange.allOrders().length;
    const signals = await signalCount();
    const stranger = FakeTelegram.user(2009, 'Mallory', 'mallory');
    await t.app.stores.users.ensureIdentityUser('telegram', '2010', 'New member', []);
    const newcomer = FakeTelegram.user(2010, 'Nina', 'nina');

    const [a] = fake.pushUpdate(fake.command(floor, stranger, `/buy@${bot.botName} MNQ 1 tp=20 sl=10`));
    const denied = await waitFor(
      () =>
        fake
          .botMessages(floor.id)
          .find((m) => m.replyTo === (a!.message as { message_id: number }).message_id),
      'the reply to the stranger',
    );
    expect(denied.plain).toMatch(/⛔ Denied \(unknown_user\): You are not registered with this service/);
    const [b] = fake.pushUpdate(fake.command(floor, newcomer, '/flatten MNQ'));
    const noRole = await waitFor(
      () =>
        fake
          .botMessages(floor.id)
          .find((m) => m.replyTo === (b!.message as { message_id: number }).message_id),
      'the reply to the newcomer',
    );
    expect(noRole.plain).toMatch(/⛔ Denied \(no_role\): You have no role here yet/);
    expect(t.app.exchange.allOrders().length).toBe(orders);
    expect(await signalCount()).toBe(signals);
  });

  it('a malformed alert gets a reply naming the problem and nothing is executed', async () => {
    const hana = await person(2011, 'Hana', ['trader'], 1);
    const dm = FakeTelegram.privateChat(hana.tg);
    const orders = t.app.exchange.allOrders().length;
    const signals = await signalCount();
    const origin = { type: 'user', sender_user: FakeTelegram.user(99, 'TradingView'), date: 1_700_000_000 };

    fake.pushUpdate(fake.forwarded(dm, hana.tg, '{"ticker":"MNQ1!","action":"buy","quantity":-1}', origin));
    await botMessage(hana.tg, /Alert not executed: quantity must be a positive whole number \(got -1\)/);
    fake.pushUpdate(fake.forwarded(dm, hana.tg, '{"ticker":"MNQ1!","action":"buy",', origin));
    await botMessage(hana.tg, /Alert not executed: alert looks like JSON but does not parse/);
    fake.pushUpdate(fake.message(dm, hana.tg, 'BUY MNQ now'));
    await botMessage(hana.tg, /Alert not executed: unexpected now/);
    fake.pushUpdate(fake.message(dm, hana.tg, 'good morning'));
    await botMessage(hana.tg, /Send \/help for the commands/);

    expect(t.app.exchange.allOrders().length).toBe(orders);
    expect(await signalCount()).toBe(signals);
    expect(netPositions(t.app, hana.user!.brokerAccountIds)).toEqual([0]);
  });

  it('a 429 with retry_after is waited out and the summary still arrives', async () => {
    const ivy = await person(2012, 'Ivy', ['trader'], 2);
    const since = fake.calls.length;
    fake.failNext('editMessageText', 1, 1);
    fake.pushUpdate(fake.command(floor, ivy.tg, '/buy MNQ 1 tp=20 sl=10'));
    const summary = await botMessage(floor, /2 account\(s\): filled 2/);

    const edits = fake.calls.slice(since).filter((c) => c.method === 'editMessageText');
    const limited = edits.find((c) => c.status === 429)!;
    expect(limited.response).toMatchObject({ error_code: 429, parameters: { retry_after: 1 } });
    const retried = edits.find(
      (c) => c.seq > limited.seq && c.params.message_id === limited.params.message_id,
    )!;
    expect(retried.status).toBe(200);
    expect(retried.at - limited.at).toBeGreaterThanOrEqual(1000);
    expect(summary.message_id).toBe(limited.params.message_id);
    expect(netPositions(t.app, ivy.user!.brokerAccountIds)).toEqual([1, 1]);
    expect(t.logs.text()).toMatch(/Telegram flood control: waiting before retrying/);
  });

  it('a personal sign-in link asked for in a group is sent privately, never to the group', async () => {
    const kim = await person(2021, 'Kim', ['trader'], 1);
    // Kim has a private chat with the bot (Telegram lets a bot write only to people who started it).
    const [hello] = fake.pushUpdate(fake.command(FakeTelegram.privateChat(kim.tg), kim.tg, '/help'));
    await handled(hello!);
    const [update] = fake.pushUpdate(fake.command(floor, kim.tg, `/dashboard@${bot.botName}`));
    expect(await handled(update!)).toBe('command: ok (private)');
    const privately = await botMessage(kim.tg, /http:\/\/127\.0\.0\.1:9\/\S+/);
    expect(privately.plain).toMatch(/dashboard/i);
    await botMessage(floor, /I sent you a private message/);
    expect(fake.botMessages(floor.id).some((m) => /http:\/\/127\.0\.0\.1:9/.test(m.plain))).toBe(false);
  });

  it('a command addressed to another bot is ignored without a reply', async () => {
    const jay = await person(2013, 'Jay', ['trader'], 1);
    const before = fake.botMessages(floor.id).length;
    const orders = t.app.exchange.allOrders().length;
    const [update] = fake.pushUpdate(fake.command(floor, jay.tg, '/buy@OtherTradingBot MNQ 1'));
    const [unknown] = fake.pushUpdate(fake.command(floor, jay.tg, '/start_game'));
    expect(await handled(update!)).toBe('ignored: addressed to another bot');
    expect(await handled(unknown!)).toBe('ignored: unknown command in a group');
    expect(fake.botMessages(floor.id)).toHaveLength(before);
    expect(t.app.exchange.allOrders().length).toBe(orders);
  });

  it('the same update delivered twice, and the same message under a new update id, execute once', async () => {
    const kim = await person(2014, 'Kim', ['trader'], 2);
    const accounts = kim.user!.brokerAccountIds;
    const ordersOfKim = () => accounts.reduce((n, id) => n + t.app.exchange.orders(id).length, 0);
    const input = fake.command(floor, kim.tg, '/buy MNQ 1');
    const [first, redelivery] = fake.pushUpdate(
      { ...input, update_id: 90_001 },
      { ...input, update_id: 90_001 },
    );
    await botMessage(floor, /2 account\(s\): filled 2/);
    expect(first!.update_id).toBe(redelivery!.update_id);
    await waitFor(
      () => t.logs.lines.some((l) => l.includes('delivered before') && l.includes('"updateId":90001')),
      'the redelivery to be dropped',
    );
    const orders = ordersOfKim();
    expect(orders).toBeGreaterThan(0);
    const [again] = fake.pushUpdate(input);
    expect(await handled(again!)).toBe('command: fanout');
    await botMessage(floor, /Already received as signal/);
    expect(ordersOfKim()).toBe(orders);
    expect(netPositions(t.app, accounts)).toEqual([1, 1]);
    expect(fake.botMessages(floor.id).filter((m) => m.serial > testStart)).toHaveLength(2);
  });

  it('a confirmation can be pressed only by the one who asked; their press runs it in the same message', async () => {
    const lee = await person(2015, 'Lee', ['trader'], 2);
    const other = await person(2016, 'Max', ['trader'], 1);
    fake.pushUpdate(fake.command(floor, lee.tg, '/buy MNQ 1'));
    await botMessage(floor, /2 account\(s\): filled 2/);
    fake.pushUpdate(fake.command(floor, lee.tg, '/flatten'));
    const prompt = await botMessage(
      floor,
      /Flatten every position and cancel every working order on 2 account/,
    );
    const buttons = (prompt.replyMarkup as { inline_keyboard: { text: string; callback_data: string }[][] })
      .inline_keyboard[0]!;
    const confirm = buttons.find((b) => b.text.includes('Confirm'))!.callback_data;

    const [foreign] = fake.pushUpdate(fake.callback(other.tg, prompt, confirm));
    const refusal = await fake.waitForCall(
      (c) => c.method === 'answerCallbackQuery' && c.params.callback_query_id === queryId(foreign!),
      'the answer to the other user',
    );
    expect(refusal.params).toMatchObject({ show_alert: true });
    expect(refusal.params.text).toMatch(/belongs to someone else/);
    expect(await handled(foreign!)).toBe('callback: confirmation refused');
    expect(netPositions(t.app, lee.user!.brokerAccountIds)).toEqual([1, 1]);
    expect(fake.botMessage(floor.id, prompt.message_id)!.replyMarkup).toBeDefined();

    fake.pushUpdate(fake.callback(lee.tg, prompt, confirm));
    await waitFor(
      () => /flat 2/.test(fake.botMessage(floor.id, prompt.message_id)!.plain),
      'the prompt to become the summary',
    );
    expect(netPositions(t.app, lee.user!.brokerAccountIds)).toEqual([0, 0]);
    for (const id of lee.user!.brokerAccountIds) expect(workingOrders(id)).toEqual([]);

    // The token is spent: pressing again runs nothing.
    const orders = t.app.exchange.allOrders().length;
    const [late] = fake.pushUpdate(fake.callback(lee.tg, prompt, confirm));
    expect(await handled(late!)).toBe('callback: confirmation expired');
    expect(t.app.exchange.allOrders().length).toBe(orders);
  });

  it('cancel on a confirmation sends nothing', async () => {
    const moe = await person(2017, 'Moe', ['trader'], 1);
    const orders = t.app.exchange.allOrders().length;
    fake.pushUpdate(fake.command(floor, moe.tg, '/flatten'));
    const prompt = await botMessage(floor, /on 1 account\(s\)\?/);
    const buttons = (prompt.replyMarkup as { inline_keyboard: { text: string; callback_data: string }[][] })
      .inline_keyboard[0]!;
    fake.pushUpdate(
      fake.callback(moe.tg, prompt, buttons.find((b) => b.text.includes('Cancel'))!.callback_data),
    );
    await waitFor(
      () => /Cancelled; nothing was sent/.test(fake.botMessage(floor.id, prompt.message_id)!.plain),
      'the prompt to say cancelled',
    );
    expect(fake.botMessage(floor.id, prompt.message_id)!.replyMarkup).toBeUndefined();
    expect(t.app.exchange.allOrders().length).toBe(orders);
  });

  it('the notifier posts Telegram notifications, escaped, and ignores other platforms', async () => {
    const since = fake.calls.length;
    await t.app.notifier.notify({
      type: 'text',
      to: { platform: 'discord', chatId: '1' },
      text: 'not for us',
    });
    await t.app.notifier.notify({
      type: 'text',
      to: { platform: 'telegram', chatId: String(floor.id) },
      text: 'Reconciled: 2 orphan take-profits <MNQ> & 1 missing stop',
    });
    const message = await botMessage(floor, /^Reconciled/);
    expect(message.plain).toBe('Reconciled: 2 orphan take-profits <MNQ> & 1 missing stop');
    expect(fake.calls.slice(since).filter((c) => c.method === 'sendMessage')).toHaveLength(1);
  });

  it('help and usage errors are answered in a private chat', async () => {
    const ned = await person(2018, 'Ned', ['trader'], 1);
    const dm = FakeTelegram.privateChat(ned.tg);
    fake.pushUpdate(fake.command(dm, ned.tg, '/start'));
    await botMessage(ned.tg, /\/buy: buy: open or add to a long/);
    fake.pushUpdate(fake.command(dm, ned.tg, '/buy MNQ -1'));
    await botMessage(
      ned.tg,
      /✗ quantity must be a positive whole number \(got -1\)\nUsage: \/buy SYMBOL QTY/,
    );
  });
});

describe('the Telegram bot by webhook', () => {
  const token = `100300:${testSecret('telegram-token')}`;
  const secret = testSecret('webhook').replace(/[^A-Za-z0-9_-]/g, '');
  let t: TestApp;
  let fake: FakeTelegram;
  let bot: TelegramTransport;

  beforeAll(async () => {
    t = await startTestApp('pglite');
    fake = await FakeTelegram.start({ token, username: 'TradecastHookBot' });
    bot = await startTelegram(t.app, {
      token,
      apiRoot: fake.apiRoot,
      webhook: { url: 'https://bot.tradecast.test/telegram/updates', secret, port: 0, host: '127.0.0.1' },
    });
    // The reverse proxy in front of the bot: Telegram calls the public URL, the proxy forwards here.
    fake.routeWebhook(`http://127.0.0.1:${bot.webhookAddress!.port}`);
  });
  afterAll(async () => {
    await bot?.stop();
    await fake?.close();
    await t?.stop();
  });

  it('registers the webhook with its secret and never polls', () => {
    expect(fake.webhook).toEqual({ url: 'https://bot.tradecast.test/telegram/updates', secretToken: secret });
    expect(fake.callsOf('getUpdates')).toEqual([]);
    expect(bot.webhookAddress!.host).toBe('127.0.0.1');
  });

  it('takes updates that carry the secret header', async () => {
    const olga = FakeTelegram.user(3001, 'Olga', 'olga');
    await addUser(t.app, { platform: 'telegram', externalId: '3001', roles: ['trader'], accounts: 1 });
    fake.pushUpdate(fake.command(FakeTelegram.privateChat(olga), olga, '/buy MNQ 1'));
    await waitFor(
      () => fake.botMessages(olga.id).find((m) => /1 account\(s\): filled 1/.test(m.plain)),
      'the summary by webhook',
    );
    expect(fake.webhookDeliveries.every((d) => d.status === 200)).toBe(true);
  });

  it('refuses requests with a wrong or missing secret header and runs nothing', async () => {
    const olga = FakeTelegram.user(3001, 'Olga', 'olga');
    const orders = t.app.exchange.allOrders().length;
    const calls = fake.calls.length;
    const update = fake.command(FakeTelegram.privateChat(olga), olga, '/buy MNQ 1');
    expect(await fake.postToWebhook(update, { secretToken: 'not-the-secret' })).toBe(403);
    expect(await fake.postToWebhook(update, { secretToken: null })).toBe(403);
    expect(t.app.exchange.allOrders().length).toBe(orders);
    expect(fake.calls.length).toBe(calls);
    expect(t.logs.text()).toMatch(/refused a webhook request: wrong path or secret token/);
  });
});
