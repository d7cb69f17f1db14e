import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Repositories } from '../../../src/db/index.js';
import { openTestDb, resetTestDb, type TestDb, testDrivers } from '../../helpers/db.js';
import { repositories } from './fixtures.js';

describe.each(testDrivers())('UsersRepository on %s', (driver) => {
  let t: TestDb;
  let repos: Repositories;
  beforeAll(async () => {
    t = await openTestDb(driver);
    repos = repositories(t.db);
  });
  afterAll(() => t?.close());
  beforeEach(() => resetTestDb(t.db));

  it('creates a user with no roles by default and reads it back with string ids', async () => {
    const user = await repos.users.create({ displayName: 'Ann' });
    expect(user).toMatchObject({ id: '1', displayName: 'Ann', roles: [] });
    expect(await repos.users.get(user.id)).toEqual(user);
    expect(await repos.users.get('999')).toBeNull();
    expect(await repos.users.get('not-an-id')).toBeNull();
    expect(await repos.users.count()).toBe(1);
  });

  it('finds a user by a linked identity, with roles, in one query', async () => {
    const user = await repos.users.create({ displayName: 'Bob', roles: ['trader', 'provider'] });
    const linked = await repos.users.linkIdentity(user.id, 'discord', '1111');
    expect(linked.ok).toBe(true);

    const { result, queries } = await t.recordQueries(() => repos.users.findByIdentity('discord', '1111'));
    expect(result).toEqual({ ...user, roles: ['provider', 'trader'] });
    expect(queries).toHaveLength(1);
    expect(await repos.users.findByIdentity('telegram', '1111')).toBeNull();
  });

  it('links one identity to one user only, and relinking to the same user is a no-op', async () => {
    const ann = await repos.users.create({ displayName: 'Ann' });
    const bob = await repos.users.create({ displayName: 'Bob' });
    expect((await repos.users.linkIdentity(ann.id, 'telegram', '42')).ok).toBe(true);
    expect((await repos.users.linkIdentity(ann.id, 'telegram', '42')).ok).toBe(true);

    const stolen = await repos.users.linkIdentity(bob.id, 'telegram', '42');
    expect(stolen).toEqual({ ok: false, error: expect.objectContaining({ code: 'identity_taken' }) });
    expect((await repos.users.findByIdentity('telegram', '42'))?.id).toBe(ann.id);

    // The same external id on another platform is another identity.
    expect((await repos.users.linkIdentity(bob.id, 'discord', '42')).ok).toBe(true);
    expect((await repos.users.listIdentities(ann.id)).map((i) => i.platform)).toEqual(['telegram']);
  });

  it('lists every identity of a user', async () => {
    const user = await repos.users.create({ displayName: 'Cy' });
    await repos.users.linkIdentity(user.id, 'discord', 'd1');
    await repos.users.linkIdentity(user.id, 'telegram', 't1');
    const identities = await repos.users.listIdentities(user.id);
    expect(identities.map((i) => `${i.platform}:${i.externalId}`).sort()).toEqual([
      'discord:d1',
      'telegram:t1',
    ]);
    expect(identities.every((i) => i.userId === user.id && i.linkedAt instanceof Date)).toBe(true);
  });

  it('grants and revokes roles, reporting whether anything changed', async () => {
    const admin = await repos.users.create({ displayName: 'Admin', roles: ['admin'] });
    const user = await repos.users.create({ displayName: 'Dee' });
    expect(await repos.users.grantRole(user.id, 'viewer', admin.id)).toBe(true);
    expect(await repos.users.grantRole(user.id, 'viewer', admin.id)).toBe(false);
    expect((await repos.users.get(user.id))?.roles).toEqual(['viewer']);
    expect(await repos.users.revokeRole(user.id, 'viewer')).toBe(true);
    expect(await repos.users.revokeRole(user.id, 'viewer')).toBe(false);
    expect((await repos.users.get(user.id))?.roles).toEqual([]);
  });

  it('seeds an admin idempotently and adds missing roles without removing any', async () => {
    const first = await repos.users.ensureIdentityUser('discord', '777', 'Owner', ['admin']);
    const second = await repos.users.ensureIdentityUser('discord', '777', 'Owner', ['admin']);
    expect(second).toEqual(first);
    expect(first.roles).toEqual(['admin']);
    expect(await repos.users.count()).toBe(1);

    await repos.users.grantRole(first.id, 'trader', null);
    const third = await repos.users.ensureIdentityUser('discord', '777', 'Owner', ['admin', 'provider']);
    expect(third.id).toBe(first.id);
    expect(third.roles).toEqual(['admin', 'provider', 'trader']);
  });

  it('seeds the same identity from concurrent callers into a single user', async () => {
    const results = await Promise.all(
      Array.from({ length: 5 }, () => repos.users.ensureIdentityUser('telegram', '555', 'Racer', ['viewer'])),
    );
    expect(new Set(results.map((u) => u.id)).size).toBe(1);
    expect(await repos.users.count()).toBe(1);
  });
});
