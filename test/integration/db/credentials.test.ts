import { randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CredentialsRepository, type Repositories, SecretBox } from '../../../src/db/index.js';
import { credentials } from '../../../src/db/schema/index.js';
import { openTestDb, resetTestDb, type TestDb, testDrivers } from '../../helpers/db.js';
import { testSecret } from '../../helpers/log.js';
import { repositories } from './fixtures.js';

describe.each(testDrivers())('CredentialsRepository on %s', (driver) => {
  let t: TestDb;
  let repos: Repositories;
  let ownerId: string;
  beforeAll(async () => {
    t = await openTestDb(driver);
    repos = repositories(t.db);
  });
  afterAll(() => t?.close());
  beforeEach(async () => {
    await resetTestDb(t.db);
    ownerId = (await repos.users.create({ displayName: 'owner', roles: ['trader'] })).id;
  });

  const newCredential = (secret: Record<string, unknown>) => ({
    ownerUserId: ownerId,
    broker: 'tradovate' as const,
    environment: 'demo' as const,
    kind: 'api_key' as const,
    label: 'main',
    secret,
  });

  it('stores the secret sealed: the raw row never contains it, readSecret returns it', async () => {
    // testSecret values are also looked for in every log line of the suite (npm test's log scan).
    const password = testSecret('password');
    const secret = { username: 'trader1', password, cid: 42 };
    const created = await repos.credentials.create(newCredential(secret));

    expect(JSON.stringify(created)).not.toContain(password);
    const [raw] = await t.db
      .select({ sealed: credentials.secretCiphertext })
      .from(credentials)
      .where(eq(credentials.id, BigInt(created.id)));
    expect(raw?.sealed).toMatch(/^v1:[^:]+:[^:]+:[^:]+$/);
    expect(raw?.sealed).not.toContain(password);
    expect(raw?.sealed).not.toContain('trader1');
    expect(await repos.credentials.readSecret(created.id)).toEqual(secret);
  });

  it('cannot read secrets with another key', async () => {
    const created = await repos.credentials.create(newCredential({ token: 'abc' }));
    const other = new CredentialsRepository({ db: t.db, secretBox: new SecretBox(randomBytes(32)) });
    await expect(other.readSecret(created.id)).rejects.toThrow(/wrong encryption key/);
  });

  it('creates credentials in state ok and lists them by owner', async () => {
    const created = await repos.credentials.create({ ...newCredential({}), brokerUserId: '9001' });
    expect(created).toMatchObject({
      id: '1',
      ownerUserId: ownerId,
      broker: 'tradovate',
      environment: 'demo',
      kind: 'api_key',
      label: 'main',
      state: 'ok',
      stateReason: null,
      lockedAt: null,
      tokenExpiresAt: null,
      tokenSource: null,
      brokerUserId: '9001',
    });
    expect(created).not.toHaveProperty('secretCiphertext');
    const stranger = await repos.users.create({ displayName: 'stranger' });
    await repos.credentials.create({ ...newCredential({}), ownerUserId: stranger.id, label: 'theirs' });

    expect((await repos.credentials.list({ ownerUserId: ownerId })).map((c) => c.label)).toEqual(['main']);
    expect((await repos.credentials.list()).map((c) => c.label)).toEqual(['main', 'theirs']);
    expect(await repos.credentials.get(created.id)).toEqual(created);
    expect(await repos.credentials.get('12345')).toBeNull();
  });

  it('replaces the secret and records token expiry and source', async () => {
    const created = await repos.credentials.create(newCredential({ accessToken: 'old' }));
    const expires = new Date('2030-01-01T12:00:00.000Z');
    expect(
      await repos.credentials.writeSecret(
        created.id,
        { accessToken: 'new' },
        { tokenExpiresAt: expires, tokenSource: 'renewed' },
      ),
    ).toBe(true);
    expect(await repos.credentials.readSecret(created.id)).toEqual({ accessToken: 'new' });
    const after = await repos.credentials.get(created.id);
    expect(after?.tokenExpiresAt?.toISOString()).toBe(expires.toISOString());
    expect(after?.tokenSource).toBe('renewed');

    // Omitted options keep their stored values.
    await repos.credentials.writeSecret(created.id, { accessToken: 'newer' });
    expect((await repos.credentials.get(created.id))?.tokenSource).toBe('renewed');
    expect(await repos.credentials.writeSecret('999', {})).toBe(false);
  });

  it('locks a credential with a reason and a lock time, and clears both when ok again', async () => {
    const created = await repos.credentials.create(newCredential({}));
    const locked = await repos.credentials.setState(created.id, 'locked', 'captcha: penalty ticket');
    expect(locked).toMatchObject({ state: 'locked', stateReason: 'captcha: penalty ticket' });
    expect(locked?.lockedAt).toBeInstanceOf(Date);

    const reauth = await repos.credentials.setState(created.id, 'needs_reauth', 'expired: token refused');
    expect(reauth).toMatchObject({ state: 'needs_reauth', lockedAt: null });

    const ok = await repos.credentials.setState(created.id, 'ok', 'ignored');
    expect(ok).toMatchObject({ state: 'ok', stateReason: null, lockedAt: null });
    expect(await repos.credentials.setState('999', 'ok')).toBeNull();
  });

  it('lists credentials due for refresh, most overdue first, skipping unusable ones', async () => {
    const a = await repos.credentials.create({ ...newCredential({}), label: 'a' });
    const b = await repos.credentials.create({ ...newCredential({}), label: 'b' });
    const c = await repos.credentials.create({ ...newCredential({}), label: 'c' });
    const d = await repos.credentials.create({ ...newCredential({}), label: 'd' });
    await repos.credentials.create({ ...newCredential({}), label: 'unscheduled' });
    const now = new Date('2030-01-01T00:00:00Z');
    await repos.credentials.setNextRefresh(a.id, new Date(now.getTime() - 1_000));
    await repos.credentials.setNextRefresh(b.id, new Date(now.getTime() - 60_000));
    await repos.credentials.setNextRefresh(c.id, new Date(now.getTime() + 60_000));
    await repos.credentials.setNextRefresh(d.id, new Date(now.getTime() - 120_000));
    await repos.credentials.setState(d.id, 'locked', 'captcha');

    expect((await repos.credentials.listDueForRefresh(now, 10)).map((x) => x.label)).toEqual(['b', 'a']);
    expect((await repos.credentials.listDueForRefresh(now, 1)).map((x) => x.label)).toEqual(['b']);
    expect((await repos.credentials.get(a.id))?.nextRefreshAt?.getTime()).toBe(now.getTime() - 1_000);
  });
});
