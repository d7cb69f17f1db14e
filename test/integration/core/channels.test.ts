/** Channel broadcasts through the command layer: providers only, subscribers only, and the report channel. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Notification } from '../../../src/index.js';
import { startTestApp, type TestApp } from '../../helpers/app.js';
import { addSignalChannel, addUser, netPositions, type TestUser } from '../../helpers/fixtures.js';

describe('signal channels', () => {
  let t: TestApp;
  let provider: TestUser;
  let follower: TestUser;
  let bystander: TestUser;
  const sent: Notification[] = [];

  beforeAll(async () => {
    t = await startTestApp('pglite', { DEMO: 'off' });
    t.app.notifier.add({ notify: async (n) => void sent.push(n) });
    provider = await addUser(t.app, { platform: 'telegram', externalId: '100', roles: ['provider'] });
    follower = await addUser(t.app, {
      platform: 'telegram',
      externalId: '200',
      roles: ['trader'],
      accounts: 3,
    });
    bystander = await addUser(t.app, {
      platform: 'telegram',
      externalId: '300',
      roles: ['trader'],
      accounts: 1,
    });
    const channelId = await addSignalChannel(t.app, {
      platform: 'telegram',
      chatId: '-1001',
      providers: [provider],
      subscribers: follower.accountIds.slice(0, 2),
    });
    const report = await t.app.stores.channels.register({
      platform: 'telegram',
      chatId: '-2002',
      role: 'report',
    });
    await t.app.stores.channels.setReportChannel(channelId, report.id);
  });
  afterAll(async () => t.stop());

  const signal = {
    action: 'buy' as const,
    symbol: 'MNQ',
    quantity: 1,
    entry: { type: 'market' as const },
    target: {},
  };

  it("a provider's signal runs on the subscribed accounts only, and the report channel gets the summary", async () => {
    const reply = await t.app.commands.broadcast(
      { platform: 'telegram', userId: '100', chatId: '-1001' },
      { platform: 'telegram', chatId: '-1001' },
      signal,
      { dedupKey: 'telegram:-1001:1', source: 'channel' },
    );
    expect(reply).toMatchObject({ kind: 'fanout', summary: { accounts: 2, filled: 2 } });
    expect(netPositions(t.app, follower.brokerAccountIds)).toEqual([1, 1, 0]);
    expect(netPositions(t.app, bystander.brokerAccountIds)).toEqual([0]);
    expect(sent).toEqual([
      expect.objectContaining({ type: 'fanout_summary', to: { platform: 'telegram', chatId: '-2002' } }),
    ]);
  });

  it('the same text from someone who is not a provider is not executed', async () => {
    const before = t.app.exchange.allOrders().length;
    const reply = await t.app.commands.broadcast(
      { platform: 'telegram', userId: '300', chatId: '-1001' },
      { platform: 'telegram', chatId: '-1001' },
      signal,
      { dedupKey: 'telegram:-1001:2', source: 'channel' },
    );
    expect(reply).toMatchObject({ kind: 'denied', denial: { code: 'not_provider' } });
    expect(t.app.exchange.allOrders().length).toBe(before);
  });

  it('a chat that is not a signal channel is refused', async () => {
    const reply = await t.app.commands.broadcast(
      { platform: 'telegram', userId: '100', chatId: '-9' },
      { platform: 'telegram', chatId: '-9' },
      signal,
      { dedupKey: 'telegram:-9:1', source: 'channel' },
    );
    expect(reply).toMatchObject({ kind: 'error', code: 'not_signal_channel' });
  });
});
