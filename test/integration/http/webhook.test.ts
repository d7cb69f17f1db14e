/**
 * The TradingView webhook end to end over HTTP: a valid alert trades the source owner's accounts, the
 * answer comes within TradingView's 3 seconds even for 1,000 accounts, a repeated alert executes once,
 * and a wrong token, a malformed body, a foreign address or a flood executes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebhookSource } from '../../../src/http/index.js';
import { waitFor } from '../../helpers/app.js';
import { addSignalChannel, addUser, netPositions, type TestUser } from '../../helpers/fixtures.js';
import { type HttpRig, startHttpRig } from './rig.js';

const RATE = 25;

describe('TradingView webhook', () => {
  let rig: HttpRig;
  let trader: TestUser;
  let url: string;

  const post = (
    target: string,
    body: string,
    contentType = 'application/json',
    headers: Record<string, string> = {},
  ) => fetch(target, { method: 'POST', headers: { 'content-type': contentType, ...headers }, body });
  const done = (signalId: string) =>
    waitFor(
      async () => (await rig.stores.signals.get(signalId))?.status === 'done',
      `signal ${signalId} done`,
      60_000,
    );
  const signalCount = async () => (await rig.stores.signals.recentHeads(10_000)).length;
  const source = async (
    input: Partial<Parameters<typeof createWebhookSource>[1]> & { ownerUserId: string },
  ) => {
    const created = await createWebhookSource(
      { stores: rig.stores, publicUrl: rig.base },
      { label: 'tv', ...input },
    );
    if (!created.ok) throw new Error(created.error.message);
    return created.value;
  };

  beforeAll(async () => {
    rig = await startHttpRig({ limits: { webhookPerMinute: RATE }, trustProxy: '127.0.0.1' });
    trader = await addUser(rig.t.app, {
      platform: 'telegram',
      externalId: '7001',
      roles: ['trader'],
      accounts: 3,
    });
    url = (await source({ ownerUserId: trader.userId, label: 'TV strategy' })).url;
    rig.t.app.exchange.setPrice('MNQ', 21500);
  });
  afterAll(async () => rig?.close());

  it('a valid JSON alert answers 202 with the signal id and trades every account of the owner', async () => {
    const res = await post(
      url,
      JSON.stringify({ ticker: 'MNQ1!', action: 'buy', quantity: 1, id: 'alert-1' }),
    );
    expect(res.status).toBe(202);
    const body = (await res.json()) as { status: string; signalId: string };
    expect(body.status).toBe('accepted');
    await done(body.signalId);
    expect(netPositions(rig.t.app, trader.brokerAccountIds)).toEqual([1, 1, 1]);
    const record = await rig.stores.signals.get(body.signalId);
    expect(record).toMatchObject({ source: 'webhook', principal: { platform: 'webhook' } });
    // The owner hears the outcome privately, on their linked chat identity.
    await waitFor(
      () => rig.notes.find((n) => n.type === 'fanout_summary' && n.summary.signalId === body.signalId),
      'the fan-out summary in chat',
    );
    const note = rig.notes.find((n) => n.type === 'fanout_summary' && n.summary.signalId === body.signalId)!;
    expect(note.to).toEqual({ platform: 'telegram', userId: '7001' });
  });

  it('the same alert delivered again executes once and points at the first signal', async () => {
    const alert = JSON.stringify({ ticker: 'MNQ1!', action: 'buy', quantity: 1, id: 'alert-2' });
    const first = (await (await post(url, alert)).json()) as { signalId: string };
    await done(first.signalId);
    const again = await post(url, alert);
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ status: 'duplicate', signalId: first.signalId });
    expect(netPositions(rig.t.app, trader.brokerAccountIds)).toEqual([2, 2, 2]);
  });

  it('two identical plain-text alerts at once (no alert id) execute once', async () => {
    const before = netPositions(rig.t.app, trader.brokerAccountIds);
    const [a, b] = await Promise.all([
      post(url, 'BUY MNQ 1', 'text/plain'),
      post(url, 'BUY MNQ 1', 'text/plain'),
    ]);
    const statuses = [a.status, b.status].sort();
    expect(statuses).toEqual([200, 202]);
    const accepted = (await (a.status === 202 ? a : b).json()) as { signalId: string };
    await done(accepted.signalId);
    expect(netPositions(rig.t.app, trader.brokerAccountIds)).toEqual(before.map((n) => n + 1));
  });

  it('key=value alerts are accepted too', async () => {
    const res = await post(url, 'action=sell; symbol=MNQ1!; qty=1; id=kv-1;', 'text/plain; charset=utf-8');
    expect(res.status).toBe(202);
    await done(((await res.json()) as { signalId: string }).signalId);
  });

  it('a body without a content type is read as text; another media type is refused with 415', async () => {
    const bare = await fetch(url, { method: 'POST', body: new TextEncoder().encode('SELL MNQ 1') });
    expect(bare.status).toBe(202);
    await done(((await bare.json()) as { signalId: string }).signalId);
    const before = await signalCount();
    const xml = await post(url, '<alert action="buy"/>', 'application/xml');
    expect(xml.status).toBe(415);
    expect(await signalCount()).toBe(before);
  });

  it('a wrong token answers 401 and executes nothing', async () => {
    const before = await signalCount();
    const wrong = url.replace(/\.[A-Za-z0-9_-]+$/, `.${'x'.repeat(43)}`);
    const alert = JSON.stringify({ ticker: 'MNQ1!', action: 'buy', id: 'never' });
    expect((await post(wrong, alert)).status).toBe(401);
    expect((await post(`${rig.base}/webhooks/tradingview/not-a-token`, alert)).status).toBe(401);
    expect((await post(`${rig.base}/webhooks/tradingview/999.${'y'.repeat(43)}`, alert)).status).toBe(401);
    expect(await signalCount()).toBe(before);
  });

  it('a malformed body answers 400 naming the problem and executes nothing', async () => {
    const before = await signalCount();
    const positions = netPositions(rig.t.app, trader.brokerAccountIds);
    const cases: [string, string, RegExp][] = [
      ['{"ticker": "MNQ1!", "action": "buy"', 'application/json', /does not parse/],
      ['{"ticker":"MNQ1!","action":"hold"}', 'application/json', /unknown action hold/],
      ['{"ticker":"ZZZ","action":"buy"}', 'application/json', /unknown symbol ZZZ/],
      ['BUY MNQ -2', 'text/plain', /./],
      ['', 'text/plain', /empty alert/],
    ];
    for (const [body, type, problem] of cases) {
      const res = await post(url, body, type);
      expect(res.status, body).toBe(400);
      const answer = (await res.json()) as { message: string };
      expect(answer.message).toMatch(problem);
    }
    expect(await signalCount()).toBe(before);
    expect(netPositions(rig.t.app, trader.brokerAccountIds)).toEqual(positions);
  });

  it('an address outside the allowlist gets 403; behind the trusted proxy the forwarded address counts', async () => {
    const guarded = (
      await source({ ownerUserId: trader.userId, allowedIps: ['10.0.0.0/8', '2001:db8::/32'] })
    ).url;
    const alert = (id: string) => JSON.stringify({ ticker: 'MNQ1!', action: 'buy', id });
    const before = await signalCount();
    expect((await post(guarded, alert('ip-1'))).status).toBe(403);
    expect(
      (await post(guarded, alert('ip-2'), 'application/json', { 'x-forwarded-for': '192.168.1.5' })).status,
    ).toBe(403);
    expect(await signalCount()).toBe(before);
    const allowed = await post(guarded, alert('ip-3'), 'application/json', { 'x-forwarded-for': '10.1.2.3' });
    expect(allowed.status).toBe(202);
    await done(((await allowed.json()) as { signalId: string }).signalId);
  });

  it('a source with a report channel posts the outcome there instead of to the owner', async () => {
    const report = await rig.t.app.stores.channels.register({
      platform: 'telegram',
      chatId: '-100888',
      role: 'report',
    });
    const created = await source({
      ownerUserId: trader.userId,
      label: 'reported',
      reportChannelId: report.id,
    });
    const res = await post(
      created.url,
      JSON.stringify({ ticker: 'MNQ1!', action: 'sell', quantity: 1, id: 'rep-1' }),
    );
    expect(res.status).toBe(202);
    const { signalId } = (await res.json()) as { signalId: string };
    await done(signalId);
    const notes = await waitFor(() => {
      const found = rig.notes.filter((n) => n.type === 'fanout_summary' && n.summary.signalId === signalId);
      return found.length > 0 ? found : null;
    }, 'the summary in the report channel');
    expect(notes.map((n) => n.to)).toEqual([{ platform: 'telegram', chatId: '-100888' }]);
  });

  it('a provider source broadcasts to the subscribers of its channel and reports in the channel', async () => {
    const provider = await addUser(rig.t.app, {
      platform: 'telegram',
      externalId: '7100',
      roles: ['provider'],
    });
    const follower = await addUser(rig.t.app, {
      platform: 'telegram',
      externalId: '7200',
      roles: ['trader'],
      accounts: 2,
    });
    const channelId = await addSignalChannel(rig.t.app, {
      platform: 'telegram',
      chatId: '-100777',
      providers: [provider],
      subscribers: follower.accountIds,
    });
    const created = await source({ ownerUserId: provider.userId, label: 'provider TV', channelId });
    const res = await post(
      created.url,
      JSON.stringify({ ticker: 'MNQ1!', action: 'buy', quantity: 2, id: 'bc-1' }),
    );
    expect(res.status).toBe(202);
    const { signalId } = (await res.json()) as { signalId: string };
    await done(signalId);
    expect(netPositions(rig.t.app, follower.brokerAccountIds)).toEqual([2, 2]);
    const note = await waitFor(
      () => rig.notes.find((n) => n.type === 'fanout_summary' && n.summary.signalId === signalId),
      'the broadcast summary',
    );
    expect(note.to).toEqual({ platform: 'telegram', chatId: '-100777' });
  });

  it('a source whose owner may not trade is refused with 403 and told in chat', async () => {
    const viewer = await addUser(rig.t.app, {
      platform: 'telegram',
      externalId: '7300',
      roles: ['viewer'],
      accounts: 1,
    });
    const created = await source({ ownerUserId: viewer.userId, label: 'viewer TV' });
    const res = await post(created.url, JSON.stringify({ ticker: 'MNQ1!', action: 'buy', id: 'denied-1' }));
    expect(res.status).toBe(403);
    expect(netPositions(rig.t.app, viewer.brokerAccountIds)).toEqual([0]);
    await waitFor(
      () =>
        rig.notes.find(
          (n) => n.type === 'text' && n.text.includes('viewer TV') && n.text.includes('not executed'),
        ),
      'the refusal in chat',
    );
  });

  it('answers within 3 seconds for 1,000 target accounts; the fan-out finishes after the answer', async () => {
    const big = await addUser(rig.t.app, {
      platform: 'telegram',
      externalId: '7400',
      roles: ['trader'],
      accounts: 1000,
    });
    const created = await source({ ownerUserId: big.userId, label: 'big' });
    const started = performance.now();
    const res = await post(
      created.url,
      JSON.stringify({ ticker: 'MNQ1!', action: 'buy', quantity: 1, id: 'big-1' }),
    );
    const answerMs = performance.now() - started;
    expect(res.status).toBe(202);
    const { signalId } = (await res.json()) as { signalId: string };
    console.info(`webhook answer for 1,000 accounts: ${Math.round(answerMs)} ms`);
    expect(answerMs).toBeLessThan(3000);
    // The answer came at intake: the orders are journaled, and the fan-out is still going or done.
    const counts = await rig.stores.journal.countsByState(signalId);
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(1000);
    await done(signalId);
    const summary = (await rig.stores.signals.get(signalId))!.summary as { accounts: number; filled: number };
    expect(summary).toMatchObject({ accounts: 1000, filled: 1000 });
  }, 120_000);

  it('a flood from one source is rate limited with 429 and executes nothing beyond the limit', async () => {
    const own = await addUser(rig.t.app, {
      platform: 'telegram',
      externalId: '7500',
      roles: ['trader'],
      accounts: 1,
    });
    const created = await source({ ownerUserId: own.userId, label: 'flood' });
    const statuses: number[] = [];
    for (let i = 0; i <= RATE; i++)
      statuses.push((await post(created.url, 'not an alert', 'text/plain')).status);
    expect(statuses.slice(0, RATE).every((s) => s === 400)).toBe(true);
    expect(statuses[RATE]).toBe(429);
    // Another source keeps its own budget.
    expect((await post(url, 'not an alert', 'text/plain')).status).toBe(400);
  });
});
