/**
 * The Discord bot end to end: a real discord.js client logged into a local fake Discord (gateway and
 * REST), the whole service on PGlite, and the paper exchange as the broker. Every assertion is on
 * what the bot sent to Discord or what reached the exchange.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DiscordTransport, startDiscord } from '../../bots/discord/index.js';
import {
  type ExchangeFailureReason,
  type ExchangeResult,
  PaperExchange,
  type PlaceOrderRequest,
} from '../../src/brokers/paper/exchange.js';
import { SIGNAL_FRESH_MS } from '../../src/index.js';
import { messageViolations } from '../fakes/discord/limits.js';
import {
  buttonIds,
  FakeDiscord,
  type FakeDiscord as FakeDiscordType,
  type FakeMessage,
  type FakeUser,
  type InteractionHandle,
  messageText,
  type OptionValue,
} from '../fakes/discord/server.js';
import { startTestApp, type TestApp, waitFor } from '../helpers/app.js';
import { addUser, netPositions, type TestUser } from '../helpers/fixtures.js';
import { testSecret } from '../helpers/log.js';

const GUILD = '800000000000000001';
const TRADING = { id: '810000000000000001', name: 'trading' };
const SIGNALS = { id: '810000000000000002', name: 'signals' };
const GENERAL = { id: '810000000000000003', name: 'general' };

/** A running bot against a fresh app and fake. */
interface Rig {
  readonly t: TestApp;
  readonly fake: FakeDiscordType;
  readonly bot: DiscordTransport;
  stop(): Promise<void>;
}

async function startRig(
  options: { exchange?: PaperExchange; progressIntervalMs?: number } = {},
): Promise<Rig> {
  const t = await startTestApp('pglite', {}, options.exchange ? { exchange: options.exchange } : {});
  // A marked secret: the log scan after the suite fails if the bot ever logs its token.
  const fake = await FakeDiscord.start({
    token: testSecret('discord-token'),
    guildId: GUILD,
    channels: [TRADING, SIGNALS, GENERAL],
  });
  const bot = await startDiscord(t.app, {
    token: fake.token,
    apiRoot: fake.apiRoot,
    guildId: GUILD,
    ...(options.progressIntervalMs !== undefined ? { progressIntervalMs: options.progressIntervalMs } : {}),
  });
  return {
    t,
    fake,
    bot,
    async stop() {
      await bot.stop();
      await fake.stop();
      await t.stop();
    },
  };
}

/** The interaction's own message once it shows a result (not "thinking…", not progress). */
function settled(fake: FakeDiscordType, handle: InteractionHandle, what = 'the reply'): Promise<FakeMessage> {
  return waitFor(() => {
    const m = fake.original(handle);
    return m && !m.loading && !m.content.startsWith('⏳') ? m : null;
  }, what);
}

/** A field of the first embed, by name. */
function field(message: FakeMessage, name: string): string | undefined {
  return (message.embeds[0]?.fields ?? []).find((f: { name: string }) => f.name === name)?.value;
}

const EPHEMERAL = 64;

describe('the Discord bot', () => {
  let rig: Rig;
  let fake: FakeDiscordType;
  let t: TestApp;
  let trader: TestUser;
  let traderUser: FakeUser;
  let viewerUser: FakeUser;
  let otherTrader: TestUser;
  let otherTraderUser: FakeUser;

  beforeAll(async () => {
    rig = await startRig();
    ({ fake, t } = rig);
    trader = await addUser(t.app, {
      platform: 'discord',
      externalId: '1001',
      roles: ['trader'],
      accounts: 3,
    });
    traderUser = fake.user('1001', 'tess');
    await addUser(t.app, { platform: 'discord', externalId: '1002', roles: ['viewer'] });
    viewerUser = fake.user('1002', 'vic');
    otherTrader = await addUser(t.app, {
      platform: 'discord',
      externalId: '1003',
      roles: ['trader'],
      accounts: 1,
    });
    otherTraderUser = fake.user('1003', 'otto');
  });
  afterAll(async () => {
    await rig?.stop();
  });

  const run = (
    user: FakeUser,
    command: string,
    options: Record<string, OptionValue> = {},
    channel = TRADING,
  ) => fake.sendInteraction({ user, command, options, channelId: channel.id });

  const working = (brokerAccountIds: readonly string[]) =>
    t.app.exchange
      .allOrders()
      .filter(
        (o) => brokerAccountIds.includes(o.accountId) && (o.status === 'working' || o.status === 'pending'),
      );

  it('logs in, asks for the message intents and registers every slash command in the guild', () => {
    expect(fake.connected).toBe(true);
    const intents = Number(fake.identifies[0]?.intents);
    // Guilds (1), GuildMessages (512), MessageContent (32768).
    expect(intents & (1 | 512 | 32768)).toBe(1 | 512 | 32768);
    const names = (fake.commands.get(GUILD) ?? []).map((c) => c.name).sort();
    expect(names).toEqual(
      [
        'accounts',
        'buy',
        'channel',
        'close',
        'dashboard',
        'flatten',
        'help',
        'halt',
        'link',
        'positions',
        'provider',
        'resume',
        'role',
        'sell',
        'status',
        'subscribe',
        'unsubscribe',
      ].sort(),
    );
    expect(fake.commands.has('global')).toBe(false);
  });

  it('/buy MNQ 1 tp=20 sl=10 by a trader with 3 accounts orders on each and edits the reply into a summary matching the broker', async () => {
    const before = t.app.exchange.allOrders().length;
    const handle = run(traderUser, 'buy', { symbol: 'MNQ', quantity: 1, tp: '20', sl: '10' });
    const reply = await settled(fake, handle);

    const [ack] = fake.callsFor(handle);
    expect(ack?.path).toBe(`/interactions/${handle.id}/${handle.token}/callback`);
    expect(ack?.body).toEqual({ type: 5, data: { flags: EPHEMERAL } });

    // At the broker: every one of the trader's accounts (and nobody else's) long one, with its bracket.
    const placed = t.app.exchange.allOrders().slice(before);
    expect(new Set(placed.map((o) => o.accountId))).toEqual(new Set(trader.brokerAccountIds));
    const nets = netPositions(t.app, trader.brokerAccountIds);
    expect(nets).toEqual([1, 1, 1]);
    const legs = working(trader.brokerAccountIds);
    expect(legs.filter((o) => o.type === 'limit')).toHaveLength(3);
    expect(legs.filter((o) => o.type === 'stop')).toHaveLength(3);

    // The summary counts what the broker holds.
    expect(reply.embeds[0].title).toBe('BUY MNQ on 3 accounts');
    expect(field(reply, 'Filled')).toBe(String(nets.filter((n) => n === 1).length));
    expect(field(reply, 'Working')).toBe('0');
    expect(field(reply, 'Rejected')).toBe('0');
    expect(field(reply, 'Unknown')).toBe('0');
    expect(field(reply, 'Duration')).toMatch(/\d+ (ms|s)/);
    const signalId = /Signal #(\d+)/.exec(reply.embeds[0].footer.text)?.[1];
    expect(buttonIds(reply)).toEqual([`tc:details:${signalId}`]);
    expect(reply.flags & EPHEMERAL).toBe(EPHEMERAL);

    // A public copy for the channel, without the Details button.
    const copy = await waitFor(
      () => fake.interactionMessages(handle).find((m) => m.id !== reply.id),
      'the public summary',
    );
    expect(copy.flags & EPHEMERAL).toBe(0);
    expect(copy.components).toEqual([]);
    expect(messageText(copy)).toContain('Filled: 3');

    // Details: the caller sees every account privately; anyone else is refused.
    const press = fake.pressButton({ user: traderUser, customId: `tc:details:${signalId}` });
    const details = await settled(fake, press, 'the details');
    expect(details.flags & EPHEMERAL).toBe(EPHEMERAL);
    for (let i = 1; i <= 3; i++) expect(messageText(details)).toContain(`**1001-${i}** filled 1`);
    const snoop = fake.pressButton({ user: viewerUser, customId: `tc:details:${signalId}` });
    const refused = await settled(fake, snoop, 'the refusal');
    expect(refused.flags & EPHEMERAL).toBe(EPHEMERAL);
    expect(refused.content).toMatch(/Only the person who sent signal #\d+ can see its details/);
  });

  it('a user with no role, a viewer trying /buy and a trader trying /halt are denied privately and nothing reaches the broker', async () => {
    await t.app.stores.users.ensureIdentityUser('discord', '1009', 'newcomer', []);
    const cases: [FakeUser, string, Record<string, OptionValue>, RegExp][] = [
      [fake.user('1009', 'newcomer'), 'buy', { symbol: 'MNQ', quantity: 1 }, /Not allowed \(no_role\)/],
      [fake.user('1010', 'stranger'), 'buy', { symbol: 'MNQ', quantity: 1 }, /Not allowed \(unknown_user\)/],
      [viewerUser, 'buy', { symbol: 'MNQ', quantity: 1, tp: '20' }, /Not allowed \(forbidden\).*viewer/],
      [traderUser, 'halt', { reason: 'lunch' }, /Not allowed \(admin_only\): \/halt is for admins only/],
    ];
    const orders = t.app.exchange.allOrders().length;
    const signals = (await t.app.stores.signals.recentHeads(1000)).length;
    for (const [user, command, options, expected] of cases) {
      const handle = run(user, command, options);
      const reply = await settled(fake, handle);
      expect(reply.content).toMatch(expected);
      expect(reply.flags & EPHEMERAL).toBe(EPHEMERAL);
      expect(fake.callsFor(handle)[0]?.body).toEqual({ type: 5, data: { flags: EPHEMERAL } });
      // Nothing public: the one private message is all there is.
      expect(fake.interactionMessages(handle)).toHaveLength(1);
    }
    expect(t.app.exchange.allOrders().length).toBe(orders);
    expect((await t.app.stores.signals.recentHeads(1000)).length).toBe(signals);
    expect((await t.app.engine.halted()).halted).toBe(false);
  });

  it('/flatten all asks first: Cancel changes nothing, a stale or foreign press is refused, Confirm flattens', async () => {
    expect(netPositions(t.app, trader.brokerAccountIds)).toEqual([1, 1, 1]);
    const orders = t.app.exchange.allOrders().length;

    const first = run(traderUser, 'flatten', { symbol: 'all' });
    const question = await settled(fake, first);
    expect(question.content).toMatch(/Flatten every position and cancel every working order on 3 account/);
    expect(question.flags & EPHEMERAL).toBe(EPHEMERAL);
    const [confirmId, cancelId] = buttonIds(question);
    expect(confirmId).toMatch(/^tc:confirm:/);
    expect(cancelId).toMatch(/^tc:cancel:/);

    const cancel = fake.pressButton({ user: traderUser, customId: cancelId! });
    await fake.waitForCall(
      (c) => c.interactionToken === cancel.token && c.status === 204,
      'the cancel update',
    );
    expect(fake.callsFor(cancel)[0]?.body.type).toBe(7);
    expect(question.content).toBe('Cancelled; nothing was sent.');
    expect(question.components).toEqual([]);
    expect(t.app.exchange.allOrders().length).toBe(orders);
    expect(netPositions(t.app, trader.brokerAccountIds)).toEqual([1, 1, 1]);

    // A client still showing the cancelled question: its Confirm is refused and the question closed.
    const stale = fake.pressButton({ user: traderUser, customId: confirmId! });
    await fake.waitForCall(
      (c) => c.interactionToken === stale.token && c.status === 204,
      'the stale refusal',
    );
    expect(question.content).toMatch(/expired or belongs to someone else/);
    expect(t.app.exchange.allOrders().length).toBe(orders);

    const second = run(traderUser, 'flatten', {});
    const again = await settled(fake, second);
    const [confirm2] = buttonIds(again);
    const foreign = fake.pressButton({ user: otherTraderUser, customId: confirm2! });
    const refusal = await settled(fake, foreign, 'the refusal of a foreign press');
    expect(refusal.flags & EPHEMERAL).toBe(EPHEMERAL);
    expect(refusal.content).toMatch(/expired or belongs to someone else/);
    expect(buttonIds(again)).toEqual([confirm2, expect.stringMatching(/^tc:cancel:/)]);
    expect(t.app.exchange.allOrders().length).toBe(orders);
    expect(netPositions(t.app, otherTrader.brokerAccountIds)).toEqual([0]);

    const mine = fake.pressButton({ user: traderUser, customId: confirm2! });
    await waitFor(() => (field(again, 'Flat') ? again : null), 'the flatten summary');
    expect(fake.callsFor(mine)[0]?.body).toEqual({ type: 6 });
    expect(field(again, 'Flat')).toBe('3');
    expect(again.content).toBe('');
    expect(buttonIds(again)).toEqual([expect.stringMatching(/^tc:details:/)]);
    expect(netPositions(t.app, trader.brokerAccountIds)).toEqual([0, 0, 0]);
    expect(working(trader.brokerAccountIds)).toEqual([]);
  });

  it("a provider's message in a signal channel runs on every subscribed account and is summarized there; the same text from a non-provider is not executed", async () => {
    await addUser(t.app, { platform: 'discord', externalId: '3001', roles: ['admin'] });
    const admin = fake.user('3001', 'ada');
    const provider = fake.user('3002', 'pat');
    await t.app.stores.users.ensureIdentityUser('discord', '3002', 'pat', []);
    const follower = await addUser(t.app, {
      platform: 'discord',
      externalId: '3003',
      roles: ['trader'],
      accounts: 3,
    });
    const followerUser = fake.user('3003', 'fay');
    const second = await addUser(t.app, {
      platform: 'discord',
      externalId: '3004',
      roles: ['trader'],
      accounts: 1,
    });
    const secondUser = fake.user('3004', 'gus');

    // The admin sets the channel up and the followers subscribe, all through slash commands.
    const asSignal = await settled(fake, run(admin, 'channel', { role: 'signal' }, SIGNALS));
    expect(asSignal.content).toMatch(/now a signal channel/);
    const added = await settled(fake, run(admin, 'provider', { action: 'add', user: provider }, SIGNALS));
    expect(added.content).toBe('✓ discord:3002 may now post signals here.');
    for (const [user, account] of [
      [followerUser, '3003-1'],
      [followerUser, '3003-2'],
      [secondUser, '3004-1'],
    ] as const) {
      const sub = await settled(fake, run(user, 'subscribe', { account, channel: SIGNALS }));
      expect(sub.content).toMatch(new RegExp(`${account} now follows`));
    }

    const subscribed = [
      follower.brokerAccountIds[0]!,
      follower.brokerAccountIds[1]!,
      second.brokerAccountIds[0]!,
    ];
    const signal = fake.sendMessage({
      user: provider,
      channelId: SIGNALS.id,
      content: 'BUY MNQ 2 TP 20 SL 10',
    });
    const summary = await waitFor(
      () =>
        fake
          .channelMessages(SIGNALS.id)
          .find((m) => m.referencedMessageId === signal.id && m.embeds.length > 0),
      'the summary in the channel',
    );
    expect(netPositions(t.app, subscribed)).toEqual([2, 2, 2]);
    expect(netPositions(t.app, [follower.brokerAccountIds[2]!])).toEqual([0]);
    expect(summary.embeds[0].title).toBe('BUY MNQ on 3 accounts');
    expect(field(summary, 'Filled')).toBe('3');
    expect(buttonIds(summary)).toEqual([expect.stringMatching(/^tc:details:\d+$/)]);

    // A registered trader who is no provider: not executed, told privately, nothing in the channel.
    const orders = t.app.exchange.allOrders().length;
    const posted = fake.channelMessages(SIGNALS.id).length;
    fake.sendMessage({ user: secondUser, channelId: SIGNALS.id, content: 'BUY MNQ 2 TP 20 SL 10' });
    const dm = await fake.waitForCall(
      (c) => c.method === 'POST' && c.path === '/users/@me/channels' && c.body?.recipient_id === '3004',
      'a private note to the non-provider',
    );
    expect(dm.status).toBe(200);
    const note = await fake.waitForCall(
      (c) =>
        c.method === 'POST' &&
        /^\/channels\/\d+\/messages$/.test(c.path) &&
        /not_provider/.test(c.body?.content),
      'the private note',
    );
    expect(note.path).not.toContain(SIGNALS.id);
    // Someone unknown to the service: not executed, and not even told.
    const stranger = fake.sendMessage({
      user: fake.user('3999', 'drive-by'),
      channelId: SIGNALS.id,
      content: 'BUY MNQ 2 TP 20 SL 10',
    });
    await waitFor(() => t.logs.text().includes(`"messageId":"${stranger.id}"`), 'the refusal in the log');
    expect(t.app.exchange.allOrders().length).toBe(orders);
    expect(fake.channelMessages(SIGNALS.id)).toHaveLength(posted);

    // Chatter is ignored; a provider's broken signal gets a reply saying why it was not executed.
    fake.sendMessage({ user: provider, channelId: SIGNALS.id, content: 'good morning all' });
    const broken = fake.sendMessage({ user: provider, channelId: SIGNALS.id, content: 'BUY MNQ 2 TP abc' });
    const why = await waitFor(
      () => fake.channelMessages(SIGNALS.id).find((m) => m.referencedMessageId === broken.id),
      'the parse error',
    );
    expect(why.content).toMatch(/Not executed: tp: expected points .*\(got abc\)/);
    expect(fake.channelMessages(SIGNALS.id)).toHaveLength(posted + 1);
    expect(t.app.exchange.allOrders().length).toBe(orders);

    // A signal delivered late (a resumed session replays what it missed) is answered, not traded.
    const late = fake.sendMessage({
      user: provider,
      channelId: SIGNALS.id,
      content: 'BUY MNQ 2 TP 20 SL 10',
      sentAt: Date.now() - SIGNAL_FRESH_MS - 2 * 60_000,
    });
    const tooOld = await waitFor(
      () => fake.channelMessages(SIGNALS.id).find((m) => m.referencedMessageId === late.id),
      'the late answer',
    );
    expect(tooOld.content).toMatch(/^✗ Not executed: this is 3 min old \(the service was down or restarting/);
    expect(fake.channelMessages(SIGNALS.id)).toHaveLength(posted + 2);
    expect(t.app.exchange.allOrders().length).toBe(orders);

    // A signal-looking message outside a signal channel is conversation.
    const elsewhere = [
      fake.sendMessage({ user: provider, channelId: GENERAL.id, content: 'BUY MNQ 2 TP abc' }),
      fake.sendMessage({ user: provider, channelId: GENERAL.id, content: 'BUY MNQ 2 TP 20 SL 10' }),
    ];
    for (const m of elsewhere) {
      await waitFor(() => t.logs.text().includes(`"messageId":"${m.id}"`), 'the message ignored in the log');
    }
    expect(fake.channelMessages(GENERAL.id)).toEqual([]);
    expect(t.app.exchange.allOrders().length).toBe(orders);
  });

  it('the same INTERACTION_CREATE delivered twice executes once', async () => {
    const orders = t.app.exchange.allOrders().length;
    const first = run(otherTraderUser, 'buy', { symbol: 'MNQ', quantity: 1 });
    const replay = fake.sendInteraction({
      user: otherTraderUser,
      command: 'buy',
      options: { symbol: 'MNQ', quantity: 1 },
      channelId: TRADING.id,
      replay: first,
    });
    expect(replay).toEqual(first);
    const reply = await settled(fake, first);
    expect(field(reply, 'Filled')).toBe('1');
    // Discord refuses the second acknowledgement; the bot then runs nothing.
    await fake.waitForCall(
      (c) => c.interactionToken === first.token && c.status === 400,
      'the refused second ack',
    );
    await waitFor(() => t.logs.text().includes('interaction already acknowledged'), 'the log of the repeat');
    expect(t.app.exchange.allOrders().length - orders).toBe(1);
    expect(netPositions(t.app, otherTrader.brokerAccountIds)).toEqual([1]);

    // Even when a repeat gets through to the command layer, its dedup key stops it.
    const again = fake.sendInteraction({
      user: otherTraderUser,
      command: 'buy',
      options: { symbol: 'MNQ', quantity: 1 },
      channelId: TRADING.id,
      replay: { id: first.id },
    });
    const repeat = await settled(fake, again);
    expect(repeat.embeds[0].title).toMatch(/^Already received: BUY MNQ \(signal #\d+\)$/);
    expect(repeat.components).toEqual([]);
    expect(fake.interactionMessages(again)).toHaveLength(1);
    expect(t.app.exchange.allOrders().length - orders).toBe(1);
    expect(netPositions(t.app, otherTrader.brokerAccountIds)).toEqual([1]);
  });

  it.each([
    ['an unknown symbol', { symbol: 'XYZ', quantity: 1 }, /unknown symbol XYZ/],
    ['a zero quantity', { symbol: 'MNQ', quantity: 0 }, /quantity must be a positive whole number \(got 0\)/],
    [
      'a take-profit below a buy limit',
      { symbol: 'MNQ', quantity: 1, limit: '21500', tp: '@21400' },
      /take-profit 21400 is below the limit price 21500 for a buy/,
    ],
    [
      'an option smuggled into the symbol',
      { symbol: 'account=all', quantity: 1 },
      /symbol: account=all is not a symbol/,
    ],
    [
      'an option smuggled into a value',
      { symbol: 'MNQ', quantity: 1, tp: '20 account=all' },
      /tp: .*\(got 20 account=all\)/,
    ],
  ])(
    '%s gets a private error naming the problem and nothing is executed',
    async (_what, options, problem) => {
      const orders = t.app.exchange.allOrders().length;
      const signals = (await t.app.stores.signals.recentHeads(1000)).length;
      const handle = run(traderUser, 'buy', options);
      const reply = await settled(fake, handle);
      expect(reply.content).toMatch(/^✗ /);
      expect(reply.content).toMatch(problem);
      expect(reply.flags & EPHEMERAL).toBe(EPHEMERAL);
      expect(fake.interactionMessages(handle)).toHaveLength(1);
      expect(t.app.exchange.allOrders().length).toBe(orders);
      expect((await t.app.stores.signals.recentHeads(1000)).length).toBe(signals);
    },
  );

  it('the other commands answer privately: positions, accounts, help, role, halt and resume, link', async () => {
    await addUser(t.app, { platform: 'discord', externalId: '3101', roles: ['admin'] });
    const admin = fake.user('3101', 'root');
    const show = async (user: FakeUser, command: string, options: Record<string, OptionValue> = {}) => {
      const reply = await settled(fake, run(user, command, options));
      expect(reply.flags & EPHEMERAL).toBe(EPHEMERAL);
      return reply;
    };

    expect((await show(traderUser, 'positions')).content).toBe(
      'All 3 account(s) are flat with no working orders.',
    );
    const accounts = await show(traderUser, 'accounts');
    expect(accounts.embeds[0].title).toBe('3 account(s)');
    expect(accounts.embeds[0].description).toContain('**1001-2** paper · enabled · ×1');
    const help = await show(viewerUser, 'help', { command: 'buy' });
    expect(help.embeds[0].description).toMatch(/^\/buy SYMBOL QTY/);

    expect((await show(admin, 'role', { role: 'trader', user: viewerUser })).content).toBe(
      '✓ Role trader granted to discord:1002.',
    );
    expect(
      (await show(admin, 'role', { role: 'trader', identity: 'discord:1002', revoke: true })).content,
    ).toBe('✓ Role trader revoked from discord:1002.');
    expect((await show(admin, 'role', { role: 'trader' })).content).toMatch(/Name the user/);

    expect((await show(admin, 'halt', { reason: 'news at 14:30' })).content).toMatch(
      /^⏸ Trading halted: news at 14:30\./,
    );
    const orders = t.app.exchange.allOrders().length;
    const skipped = await show(traderUser, 'buy', { symbol: 'MES', quantity: 1 });
    expect(field(skipped, 'Skipped')).toBe('3');
    expect(field(skipped, 'Skipped by reason')).toBe('3 × halted');
    expect(t.app.exchange.allOrders().length).toBe(orders);
    expect((await show(admin, 'resume')).content).toBe('▶ Trading resumed.');

    expect((await show(traderUser, 'link')).content).toMatch(
      /^✗ Linking a Tradovate login needs the web server/,
    );
  });

  it('autocomplete offers symbols and only the caller’s own accounts', async () => {
    const symbols = fake.sendAutocomplete({
      user: traderUser,
      command: 'buy',
      focused: 'symbol',
      value: 'mn',
      channelId: TRADING.id,
    });
    const s = await fake.waitForCall((c) => c.interactionToken === symbols.token, 'symbol choices');
    expect(s.body.type).toBe(8);
    expect(s.body.data.choices[0]).toEqual({ name: 'MNQ · Micro E-mini Nasdaq-100', value: 'MNQ' });
    const accounts = fake.sendAutocomplete({
      user: traderUser,
      command: 'flatten',
      focused: 'account',
      value: '',
      channelId: TRADING.id,
    });
    const a = await fake.waitForCall((c) => c.interactionToken === accounts.token, 'account choices');
    expect(a.body.data.choices.map((c: { value: string }) => c.value)).toEqual([
      '1001-1',
      '1001-2',
      '1001-3',
    ]);
    const nobody = fake.sendAutocomplete({
      user: fake.user('1010'),
      command: 'buy',
      focused: 'account',
      value: '',
      channelId: TRADING.id,
    });
    const n = await fake.waitForCall((c) => c.interactionToken === nobody.token, 'no choices');
    expect(n.body.data.choices).toEqual([]);
  });

  it('notifications for Discord reach a channel or a user privately; other platforms are left alone', async () => {
    await t.app.notifier.notify({
      type: 'text',
      to: { platform: 'discord', chatId: GENERAL.id },
      text: 'maintenance at 5',
    });
    expect(fake.channelMessages(GENERAL.id).at(-1)?.content).toBe('maintenance at 5');
    const mark = fake.calls.at(-1)?.seq ?? 0;
    await t.app.notifier.notify({
      type: 'credential_state',
      to: { platform: 'discord', userId: '1001' },
      credentialLabel: 'Apex 1',
      state: 'needs_reauth',
      reason: 'refresh token expired',
      hint: 'Run /link to authorize tradecast again.',
    });
    const dm = await fake.waitForCall(
      (c) => c.seq > mark && c.method === 'POST' && c.path === '/users/@me/channels',
      'the private chat',
    );
    expect(dm.body).toEqual({ recipient_id: '1001' });
    const sent = await fake.waitForCall(
      (c) => c.seq > dm.seq && c.method === 'POST' && /^\/channels\/\d+\/messages$/.test(c.path),
      'the private message',
    );
    expect(sent.body.embeds[0].title).toBe('Credential Apex 1: needs reauth');
    expect(sent.body.embeds[0].description).toBe(
      'refresh token expired\n\nRun /link to authorize tradecast again.',
    );
    const calls = fake.calls.length;
    await t.app.notifier.notify({
      type: 'text',
      to: { platform: 'telegram', chatId: '-100' },
      text: 'not for us',
    });
    expect(fake.calls.length).toBe(calls);
  });

  it('logs a gateway reconnect and the resumed session', async () => {
    fake.requestReconnect();
    await waitFor(() => fake.resumes.length > 0, 'the RESUME');
    await waitFor(() => t.logs.text().includes('gateway session resumed'), 'the resume in the log');
    expect(t.logs.text()).toContain('gateway connection lost; reconnecting');
    // Still answering after the reconnect.
    const status = await settled(fake, run(viewerUser, 'status'));
    expect(status.embeds[0].title).toBe('Status');
  });

  it('sent nothing Discord would refuse for its size, called no route the fake does not know, logged no token', () => {
    expect(fake.violations).toEqual([]);
    expect(fake.unhandled).toEqual([]);
    expect(t.logs.text()).not.toContain(fake.token);
  });
});

/**
 * A venue that refuses every order, each account for a reason of its own, with long explanations:
 * the worst case for the size of a summary.
 */
class RefusingExchange extends PaperExchange {
  private readonly rules = new Map<string, number>();

  override placeOrder(request: PlaceOrderRequest): ExchangeResult<never> {
    return this.refuse(request.accountId);
  }

  override placeOso(entry: PlaceOrderRequest): ExchangeResult<never> {
    return this.refuse(entry.accountId);
  }

  private refuse(accountId: string): ExchangeResult<never> {
    const n = this.rules.get(accountId) ?? this.rules.size + 1;
    this.rules.set(accountId, n);
    return {
      ok: false,
      error: {
        reason:
          `EvaluationRule${String(n).padStart(2, '0')}TrailingDrawdownBreached` as ExchangeFailureReason,
        text: `account ${accountId} is outside rule ${n} of the prop firm's evaluation: ${'the daily loss limit, the trailing drawdown and the consistency rule all apply; '.repeat(3)}`,
      },
    };
  }
}

describe('the Discord bot on a long fan-out', () => {
  let rig: Rig;

  beforeAll(async () => {
    // Progress from the first report on: the paper venue answers too fast for the default interval.
    rig = await startRig({ exchange: new RefusingExchange({ seed: 7 }), progressIntervalMs: 0 });
    await addUser(rig.t.app, { platform: 'discord', externalId: '5001', roles: ['trader'], accounts: 60 });
  });
  afterAll(async () => {
    await rig?.stop();
  });

  it('60 accounts each rejected for its own reason: progress, then a summary and details within Discord’s limits', async () => {
    const { fake } = rig;
    const user = fake.user('5001', 'max');
    const handle = fake.sendInteraction({
      user,
      command: 'buy',
      options: { symbol: 'MNQ', quantity: 1 },
      channelId: TRADING.id,
    });
    const question = await settled(fake, handle);
    expect(question.content).toMatch(/\/buy will touch 60 accounts/);
    const [confirm] = buttonIds(question);
    const press = fake.pressButton({ user, customId: confirm! });
    await waitFor(() => (field(question, 'Rejected') ? question : null), 'the summary');

    // Progress was shown in the question's message before the result.
    const edits = fake.calls.filter((c) => c.method === 'PATCH' && c.interactionToken === press.token);
    expect(edits.length).toBeGreaterThanOrEqual(2);
    expect(edits[0]?.body.content).toMatch(/^⏳ Sending… \d+\/60 accounts answered/);

    expect(field(question, 'Rejected')).toBe('60');
    expect(field(question, 'Filled')).toBe('0');
    const reasons = field(question, 'Rejected by reason')!;
    expect(reasons).toMatch(/^1 × EvaluationRule\d\dTrailingDrawdownBreached\n/);
    expect(reasons).toMatch(/… and \d+ more reasons \(Details lists every account\)$/);
    expect(messageViolations({ content: question.content, embeds: question.embeds })).toEqual([]);

    const signalId = /Signal #(\d+)/.exec(question.embeds[0].footer.text)?.[1];
    const details = await settled(
      fake,
      fake.pressButton({ user, customId: `tc:details:${signalId}` }),
      'details',
    );
    expect(details.flags & EPHEMERAL).toBe(EPHEMERAL);
    expect(messageViolations({ content: details.content, embeds: details.embeds })).toEqual([]);
    expect(details.embeds[0].description).toMatch(/… and \d+ more in the attached file$/);
    const [file] = details.attachments;
    expect(file?.filename).toBe(`signal-${signalId}.csv`);
    const rows = file!.text.trim().split('\n');
    expect(rows[0]).toBe('account,outcome,quantity,contract,elapsed_ms,broker_order_ids,reason');
    expect(rows).toHaveLength(61);
    for (let i = 1; i <= 60; i++) expect(file!.text).toContain(`5001-${i},rejected,`);

    expect(fake.violations).toEqual([]);
    expect(rig.t.app.exchange.allOrders()).toEqual([]);
  });
});
