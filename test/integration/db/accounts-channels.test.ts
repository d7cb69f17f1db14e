import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Repositories } from '../../../src/db/index.js';
import { accounts } from '../../../src/db/schema/index.js';
import { openTestDb, resetTestDb, type TestDb, testDrivers } from '../../helpers/db.js';
import { repositories, traderWithCredential } from './fixtures.js';

describe.each(testDrivers())('AccountsRepository on %s', (driver) => {
  let t: TestDb;
  let repos: Repositories;
  beforeAll(async () => {
    t = await openTestDb(driver);
    repos = repositories(t.db);
  });
  afterAll(() => t?.close());
  beforeEach(() => resetTestDb(t.db));

  it('creates an account with defaults and the broker of its credential', async () => {
    const { user, credential } = await traderWithCredential(repos);
    const account = await repos.accounts.create({
      credentialId: credential.id,
      brokerAccountId: 'PA-1',
      name: 'Paper 1',
    });
    expect(account).toEqual({
      id: '1',
      credentialId: credential.id,
      ownerUserId: user.id,
      brokerAccountId: 'PA-1',
      name: 'Paper 1',
      broker: 'paper',
      enabled: true,
      multiplier: 1,
      maxQuantity: null,
      maxPosition: null,
      symbolMap: {},
      group: null,
      tradingWindow: null,
      bracketPolicy: 'keep',
      unmanagedPolicy: 'report',
      createdAt: expect.any(Date),
    });
    expect(await repos.accounts.get(account.id)).toEqual(account);
    expect(await repos.accounts.get('404')).toBeNull();
  });

  it('creating the same broker account again refreshes its name and keeps its settings', async () => {
    const { credential } = await traderWithCredential(repos);
    const first = await repos.accounts.create({
      credentialId: credential.id,
      brokerAccountId: 'A',
      name: 'old',
      multiplier: 2,
    });
    const again = await repos.accounts.create({
      credentialId: credential.id,
      brokerAccountId: 'A',
      name: 'new',
    });
    expect(again).toMatchObject({ id: first.id, name: 'new', multiplier: 2 });
    expect(await repos.accounts.count()).toBe(1);
  });

  it('lists a user’s accounts only, optionally only enabled ones', async () => {
    const ann = await traderWithCredential(repos, 'ann');
    const bob = await traderWithCredential(repos, 'bob');
    await repos.accounts.create({ credentialId: ann.credential.id, brokerAccountId: '1', name: 'ann-1' });
    await repos.accounts.create({
      credentialId: ann.credential.id,
      brokerAccountId: '2',
      name: 'ann-2',
      enabled: false,
    });
    await repos.accounts.create({ credentialId: bob.credential.id, brokerAccountId: '1', name: 'bob-1' });

    expect((await repos.accounts.listForUser(ann.user.id)).map((a) => a.name)).toEqual(['ann-1', 'ann-2']);
    expect((await repos.accounts.listForUser(ann.user.id, { enabledOnly: true })).map((a) => a.name)).toEqual(
      ['ann-1'],
    );
    expect((await repos.accounts.listAll({ enabledOnly: true })).map((a) => a.name)).toEqual([
      'ann-1',
      'bob-1',
    ]);
    expect((await repos.accounts.listByCredential(bob.credential.id)).map((a) => a.name)).toEqual(['bob-1']);
    expect(await repos.accounts.count()).toBe(3);
    expect(await repos.accounts.count({ enabledOnly: true })).toBe(2);
  });

  it('finds a user’s account by id, broker id or name, never another user’s, never a guess', async () => {
    const ann = await traderWithCredential(repos, 'ann');
    const bob = await traderWithCredential(repos, 'bob');
    const apex = await repos.accounts.create({
      credentialId: ann.credential.id,
      brokerAccountId: '5001',
      name: 'APEX-1',
    });
    const bobs = await repos.accounts.create({
      credentialId: bob.credential.id,
      brokerAccountId: '6001',
      name: 'BOB-1',
    });

    expect((await repos.accounts.findForUser(ann.user.id, apex.id))?.id).toBe(apex.id);
    expect((await repos.accounts.findForUser(ann.user.id, 'apex-1'))?.id).toBe(apex.id);
    expect((await repos.accounts.findForUser(ann.user.id, '5001'))?.id).toBe(apex.id);
    expect(await repos.accounts.findForUser(ann.user.id, bobs.id)).toBeNull();
    expect(await repos.accounts.findForUser(ann.user.id, 'BOB-1')).toBeNull();

    const second = await repos.credentials.create({
      ownerUserId: ann.user.id,
      broker: 'paper',
      environment: 'paper',
      kind: 'api_key',
      label: 'second',
      secret: {},
    });
    await repos.accounts.create({ credentialId: second.id, brokerAccountId: '7001', name: 'apex-1' });
    expect(await repos.accounts.findForUser(ann.user.id, 'APEX-1')).toBeNull();
    expect((await repos.accounts.findForUser(ann.user.id, apex.id))?.id).toBe(apex.id);
  });

  it('updates settings, keeping omitted fields and clearing nulls', async () => {
    const { credential } = await traderWithCredential(repos);
    const account = await repos.accounts.create({
      credentialId: credential.id,
      brokerAccountId: 'X',
      name: 'x',
      maxQuantity: 5,
      group: 'apex',
    });
    const window = { timeZone: 'America/New_York', start: '09:30', end: '16:00' };
    const updated = await repos.accounts.update(account.id, {
      enabled: false,
      multiplier: 0.5,
      maxPosition: 10,
      symbolMap: { NQ: 'MNQ' },
      group: null,
      tradingWindow: window,
      bracketPolicy: 'require',
    });
    expect(updated).toMatchObject({
      enabled: false,
      multiplier: 0.5,
      maxQuantity: 5,
      maxPosition: 10,
      symbolMap: { NQ: 'MNQ' },
      group: null,
      tradingWindow: window,
      bracketPolicy: 'require',
      unmanagedPolicy: 'report',
    });
    expect(await repos.accounts.update(account.id, {})).toEqual(updated);
    expect(await repos.accounts.update('404', { enabled: true })).toBeNull();
  });

  it('lists 10,000 accounts with a single query', async () => {
    const { user, credential } = await traderWithCredential(repos);
    const rows = Array.from({ length: 10_000 }, (_, i) => ({
      credentialId: BigInt(credential.id),
      ownerUserId: BigInt(user.id),
      brokerAccountId: String(100_000 + i),
      name: `acc-${i}`,
    }));
    for (let i = 0; i < rows.length; i += 1000) await t.db.insert(accounts).values(rows.slice(i, i + 1000));

    const all = await t.recordQueries(() => repos.accounts.listAll());
    expect(all.result).toHaveLength(10_000);
    expect(all.result.every((a) => a.broker === 'paper')).toBe(true);
    expect(all.queries).toHaveLength(1);

    const mine = await t.recordQueries(() => repos.accounts.listForUser(user.id, { enabledOnly: true }));
    expect(mine.result).toHaveLength(10_000);
    expect(mine.queries).toHaveLength(1);
  });
});

describe.each(testDrivers())('ChannelsRepository on %s', (driver) => {
  let t: TestDb;
  let repos: Repositories;
  beforeAll(async () => {
    t = await openTestDb(driver);
    repos = repositories(t.db);
  });
  afterAll(() => t?.close());
  beforeEach(() => resetTestDb(t.db));

  it('registers a chat idempotently, per role, keeping the title unless a new one is given', async () => {
    const first = await repos.channels.register({
      platform: 'telegram',
      chatId: '-100',
      role: 'signal',
      title: 'Signals',
    });
    const again = await repos.channels.register({ platform: 'telegram', chatId: '-100', role: 'signal' });
    expect(again).toEqual(first);
    const renamed = await repos.channels.register({
      platform: 'telegram',
      chatId: '-100',
      role: 'signal',
      title: 'New',
    });
    expect(renamed).toMatchObject({ id: first.id, title: 'New' });

    const report = await repos.channels.register({ platform: 'telegram', chatId: '-100', role: 'report' });
    expect(report.id).not.toBe(first.id);
    expect(await repos.channels.find('telegram', '-100', 'report')).toEqual(report);
    expect(await repos.channels.find('discord', '-100', 'report')).toBeNull();

    expect(await repos.channels.setReportChannel(first.id, report.id)).toBe(true);
    expect((await repos.channels.get(first.id))?.reportChannelId).toBe(report.id);
  });

  it('keeps the providers of a channel', async () => {
    const channel = await repos.channels.register({ platform: 'discord', chatId: 'c1', role: 'signal' });
    const ann = await repos.users.create({ displayName: 'ann', roles: ['provider'] });
    const bob = await repos.users.create({ displayName: 'bob', roles: ['provider'] });
    expect(await repos.channels.addProvider(channel.id, ann.id)).toBe(true);
    expect(await repos.channels.addProvider(channel.id, ann.id)).toBe(false);
    await repos.channels.addProvider(channel.id, bob.id);

    expect(await repos.channels.isProvider(channel.id, ann.id)).toBe(true);
    expect(await repos.channels.providers(channel.id)).toEqual([ann.id, bob.id]);
    expect(await repos.channels.removeProvider(channel.id, ann.id)).toBe(true);
    expect(await repos.channels.removeProvider(channel.id, ann.id)).toBe(false);
    expect(await repos.channels.isProvider(channel.id, ann.id)).toBe(false);
  });

  it('subscribes accounts to channels and lists who follows a channel', async () => {
    const { credential } = await traderWithCredential(repos);
    const a = await repos.accounts.create({ credentialId: credential.id, brokerAccountId: 'a', name: 'a' });
    const b = await repos.accounts.create({
      credentialId: credential.id,
      brokerAccountId: 'b',
      name: 'b',
      enabled: false,
    });
    const signals = await repos.channels.register({
      platform: 'telegram',
      chatId: '-1',
      role: 'signal',
      title: 'S',
    });
    const other = await repos.channels.register({ platform: 'telegram', chatId: '-2', role: 'signal' });

    const sub = await repos.channels.subscribe(a.id, signals.id, { reportPrivate: true });
    expect(sub).toEqual({ accountId: a.id, channelId: signals.id, reportPrivate: true, channel: signals });
    // Subscribing again without the option keeps it.
    expect((await repos.channels.subscribe(a.id, signals.id)).reportPrivate).toBe(true);
    await repos.channels.subscribe(b.id, signals.id);
    await repos.channels.subscribe(a.id, other.id);

    const followers = await repos.accounts.listSubscribedTo(signals.id);
    expect(followers.map((f) => [f.name, f.reportPrivate])).toEqual([
      ['a', true],
      ['b', false],
    ]);
    expect(
      (await repos.accounts.listSubscribedTo(signals.id, { enabledOnly: true })).map((f) => f.name),
    ).toEqual(['a']);
    expect((await repos.channels.subscriptionsOf(a.id)).map((s) => s.channel.chatId)).toEqual(['-1', '-2']);

    expect(await repos.channels.unsubscribe(a.id, signals.id)).toBe(true);
    expect(await repos.channels.unsubscribe(a.id, signals.id)).toBe(false);
    expect((await repos.channels.subscriptionsOf(a.id)).map((s) => s.channelId)).toEqual([other.id]);
  });
});
