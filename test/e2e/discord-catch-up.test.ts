/**
 * Signal-channel messages the gateway never delivered: posted while the bot was stopped, or between
 * two gateway sessions. A real discord.js client against the fake Discord, the service on PGlite and
 * the paper exchange; the bot reads each signal channel's history at start and after a new session.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DiscordTransport, startDiscord } from '../../bots/discord/index.js';
import { parseAlert, SIGNAL_FRESH_MS } from '../../src/index.js';
import { FakeDiscord, type FakeMessage, type FakeUser } from '../fakes/discord/server.js';
import { startTestApp, type TestApp, waitFor } from '../helpers/app.js';
import { addUser, netPositions, type TestUser } from '../helpers/fixtures.js';
import { testSecret } from '../helpers/log.js';

const GUILD = '800000000000000001';
const SIGNALS = { id: '810000000000000002', name: 'signals' };
const OTHER_SIGNALS = { id: '810000000000000004', name: 'more-signals' };

describe('the Discord bot catching up on its signal channels', () => {
  let t: TestApp;
  let fake: FakeDiscord;
  let bot: DiscordTransport | null = null;
  let follower: TestUser;
  let provider: FakeUser;
  let stranger: FakeUser;

  const start = async () => {
    bot = await startDiscord(t.app, { token: fake.token, apiRoot: fake.apiRoot, guildId: GUILD });
  };
  const stop = async () => {
    await bot?.stop();
    bot = null;
  };
  /** A provider's message in the signal channel, posted `agoMs` ago while the bot was away. */
  const postedAway = (content: string, agoMs: number) =>
    fake.postWhileAway({ user: provider, channelId: SIGNALS.id, content, sentAt: Date.now() - agoMs });
  /** A provider's signal posted while the bot was away, which the engine ran under its dedup key. */
  const recordedAway = async (content: string, agoMs: number) => {
    const message = postedAway(content, agoMs);
    const signal = parseAlert(message.content);
    if (!signal.ok) throw new Error(signal.error.message);
    const first = await t.app.commands.broadcast(
      { platform: 'discord', userId: '5002', chatId: SIGNALS.id, displayName: 'pat' },
      { platform: 'discord', chatId: SIGNALS.id },
      signal.value,
      { dedupKey: `discord:msg:${message.id}`, source: 'channel', sentAt: message.createdAt },
    );
    expect(first.kind).toBe('fanout');
    return message;
  };
  const replyTo = (m: FakeMessage) =>
    fake.channelMessages(m.channelId).filter((r) => r.referencedMessageId === m.id);
  const catchUps = () => (t.logs.text().match(/signal channels caught up/g) ?? []).length;
  const historyReads = () =>
    fake.calls.filter((c) => c.method === 'GET' && /^\/channels\/\d+\/messages$/.test(c.path)).length;
  const orders = () =>
    t.app.exchange.allOrders().filter((o) => follower.brokerAccountIds.includes(o.accountId));

  beforeAll(async () => {
    t = await startTestApp('pglite');
    fake = await FakeDiscord.start({
      token: testSecret('discord-token'),
      guildId: GUILD,
      channels: [SIGNALS, OTHER_SIGNALS],
    });
    follower = await addUser(t.app, {
      platform: 'discord',
      externalId: '5001',
      roles: ['trader'],
      accounts: 2,
    });
    const providerUser = await t.app.stores.users.ensureIdentityUser('discord', '5002', 'pat', ['provider']);
    provider = fake.user('5002', 'pat');
    stranger = fake.user('5999', 'drive-by');
    for (const chat of [SIGNALS, OTHER_SIGNALS]) {
      const channel = await t.app.stores.channels.register({
        platform: 'discord',
        chatId: chat.id,
        role: 'signal',
        title: chat.name,
      });
      await t.app.stores.channels.addProvider(channel.id, providerUser.id);
      if (chat === SIGNALS) {
        for (const accountId of follower.accountIds)
          await t.app.stores.channels.subscribe(accountId, channel.id);
      }
    }
  });
  afterAll(async () => {
    await stop();
    await fake?.stop();
    await t?.stop();
  });

  it('at start, runs a signal posted while it was stopped, answers one now too old, and ignores chatter and strangers', async () => {
    const fresh = postedAway('BUY MNQ 1 TP 20 SL 10', 5_000);
    const stale = postedAway('BUY MNQ 3 TP 20 SL 10', SIGNAL_FRESH_MS + 9 * 60_000);
    fake.postWhileAway({ user: provider, channelId: SIGNALS.id, content: 'back in five' });
    fake.postWhileAway({ user: stranger, channelId: SIGNALS.id, content: 'SELL MNQ 1' });
    // Older than the horizon: not even answered.
    const ancient = postedAway('SELL MNQ 1', 25 * 60 * 60_000);

    await start();
    const summary = await waitFor(() => replyTo(fresh).find((m) => m.embeds.length > 0), 'the summary');
    expect(summary.embeds[0].title).toBe('BUY MNQ on 2 accounts');
    const answer = await waitFor(() => replyTo(stale)[0], 'the late answer');
    expect(answer.content).toMatch(
      /^✗ Not executed: this is 10 min old \(the service was down or restarting/,
    );
    await waitFor(() => catchUps() === 1, 'the catch-up to end');
    expect(t.logs.text().match(/signal channel read back/g)).toHaveLength(2);

    // One entry per account (each with its take-profit and stop), nothing else: the 3-lot is not traded.
    expect(netPositions(t.app, follower.brokerAccountIds)).toEqual([1, 1]);
    expect(orders().filter((o) => o.parentId === null)).toHaveLength(2);
    expect(replyTo(ancient)).toEqual([]);
    // Two replies in the channel: the summary and the late answer. Chatter and strangers get none.
    expect(fake.channelMessages(SIGNALS.id)).toHaveLength(2);
  });

  it('a restart reads the history again but answers nothing twice and trades nothing twice', async () => {
    const posted = fake.channelMessages(SIGNALS.id).length;
    const placed = orders().length;
    const reads = historyReads();
    const done = catchUps();
    await stop();
    await start();
    await waitFor(() => catchUps() === done + 1, 'the catch-up to end');
    expect(historyReads()).toBe(reads + 2);
    expect(fake.channelMessages(SIGNALS.id)).toHaveLength(posted);
    expect(orders()).toHaveLength(placed);
    expect(netPositions(t.app, follower.brokerAccountIds)).toEqual([1, 1]);
  });

  it('a signal recorded before a stop but never answered gets its first outcome, not a second run', async () => {
    await stop();
    // The engine took it under the message's dedup key, then the process went away before replying.
    const message = await recordedAway('BUY MNQ 1 TP 20 SL 10', 2_000);
    const placed = orders().length;
    expect(netPositions(t.app, follower.brokerAccountIds)).toEqual([2, 2]);

    await start();
    const answer = await waitFor(() => replyTo(message)[0], 'the answer');
    expect(answer.embeds[0].title).toMatch(/^Already received: BUY MNQ \(signal #\d+\)$/);
    expect(answer.embeds[0].description).toMatch(/nothing was sent again/);
    expect(orders()).toHaveLength(placed);
    expect(netPositions(t.app, follower.brokerAccountIds)).toEqual([2, 2]);
  });

  it("a progress reply a stopped run left is finished with that run's outcome, in place", async () => {
    await stop();
    const message = await recordedAway('BUY MNQ 1 TP 20 SL 10', 3_000);
    // The run had shown its progress when the process went away.
    const progress = fake.postWhileAway({
      user: fake.botUser,
      channelId: SIGNALS.id,
      content: '⏳ Sending… 1/2 accounts answered (1.2 s)',
      replyTo: message.id,
    });
    const placed = orders().length;

    await start();
    const finished = await waitFor(
      () => fake.channelMessages(SIGNALS.id).find((m) => m.id === progress.id && m.embeds.length > 0),
      'the progress reply to show the outcome',
    );
    expect(finished.embeds[0].title).toBe('BUY MNQ on 2 accounts');
    expect(replyTo(message)).toHaveLength(1);
    expect(orders()).toHaveLength(placed);
  });

  it('a signal that arrives live while the bot is catching up runs after the ones it missed', async () => {
    await stop();
    const missed = postedAway('BUY MNQ 2 TP 20 SL 10', 1_000);
    await start();
    // Sent as soon as the bot is up, while it is still reading the history.
    const flatten = fake.sendMessage({ user: provider, channelId: SIGNALS.id, content: 'FLATTEN MNQ' });
    await waitFor(() => replyTo(flatten).find((m) => m.embeds.length > 0), 'the flatten summary');
    expect(replyTo(missed).find((m) => m.embeds.length > 0)?.embeds[0].title).toBe('BUY MNQ on 2 accounts');
    // The buy ran first, the flatten after it: flat, nothing working.
    expect(netPositions(t.app, follower.brokerAccountIds)).toEqual([0, 0]);
    expect(orders().filter((o) => o.status === 'working' || o.status === 'pending')).toEqual([]);
  });

  it('a new gateway session (the old one expired) reads what was posted between the two', async () => {
    const reads = historyReads();
    const between = postedAway('SELL MNQ 1', 1_000);
    fake.expireSession();
    fake.requestReconnect();
    const summary = await waitFor(
      () => replyTo(between).find((m) => m.embeds.length > 0),
      'the summary after the new session',
      20_000,
    );
    expect(summary.embeds[0].title).toBe('SELL MNQ on 2 accounts');
    expect(historyReads()).toBeGreaterThanOrEqual(reads + 2);
    expect(netPositions(t.app, follower.brokerAccountIds)).toEqual([-1, -1]);
  });

  it('reads back past the newest page: a signal followed by 120 other messages still runs', async () => {
    await stop();
    const signal = postedAway('BUY MNQ 1 TP 20 SL 10', 3_000);
    for (let i = 0; i < 120; i++)
      fake.postWhileAway({ user: stranger, channelId: SIGNALS.id, content: `hi ${i}` });
    const reads = historyReads();
    await start();
    const summary = await waitFor(() => replyTo(signal).find((m) => m.embeds.length > 0), 'the summary');
    expect(summary.embeds[0].title).toBe('BUY MNQ on 2 accounts');
    // Two pages of the busy channel, one of the other.
    expect(historyReads()).toBe(reads + 3);
    expect(netPositions(t.app, follower.brokerAccountIds)).toEqual([1, 1]);
  });
});
