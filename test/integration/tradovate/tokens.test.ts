import { afterEach, describe, expect, it } from 'vitest';
import type { AccountRef } from '../../../src/brokers/broker.js';
import { linkViaOAuth, loginFields, makeUser, type Rig, rig } from './harness.js';

const USER = makeUser(1, 2);
const ACCOUNT: AccountRef = { credentialId: USER.name, brokerAccountId: String(USER.accounts[0]!.id) };
const MIN = 60_000;

describe('Tradovate adapter tokens against the simulator', () => {
  let r: Rig | undefined;
  afterEach(async () => {
    await r?.close();
    r = undefined;
  });

  it('serves every call from the stored OAuth token: no login, no renewal, one session', async () => {
    r = await rig({
      users: [USER],
      credential: async (user, sim) => ({ ...(await linkViaOAuth(sim, user.name)), ...loginFields(user) }),
    });
    const sessionsBefore = r.sim.sessions(USER.name).map((s) => s.id);
    expect((await r.broker.listAccounts(USER.name)).ok).toBe(true);
    expect((await r.broker.positions(ACCOUNT)).ok).toBe(true);
    expect((await r.broker.workingOrders(ACCOUNT)).ok).toBe(true);
    expect(r.sim.requests.count({ endpoint: 'auth/accesstokenrequest' })).toBe(0);
    expect(r.sim.requests.count({ endpoint: 'auth/renewaccesstoken' })).toBe(0);
    expect(r.sim.sessions(USER.name).map((s) => s.id)).toEqual(sessionsBefore);
    expect(r.log.sources(USER.name)[0]).toBe('stored');
    expect(r.log.entries.some((e) => e.msg === 'token from stored OAuth token')).toBe(true);
  });

  it('renews a token near its expiry inside the same session instead of logging in', async () => {
    r = await rig({
      users: [USER],
      credential: async (user, sim) => ({ ...(await linkViaOAuth(sim, user.name)), ...loginFields(user) }),
    });
    const [session] = r.sim.sessions(USER.name);
    const storedExpiry = Date.parse(r.store.secrets.get(USER.name)!.expiresAt!);
    // 80-minute tokens: 70 minutes on, the token is inside the 15-minute renewal margin.
    r.clock.advance(70 * MIN);
    expect((await r.broker.listAccounts(USER.name)).ok).toBe(true);
    expect(r.sim.requests.count({ endpoint: 'auth/renewaccesstoken' })).toBe(1);
    expect(r.sim.requests.count({ endpoint: 'auth/accesstokenrequest' })).toBe(0);
    expect(r.sim.sessions(USER.name).map((s) => s.id)).toEqual([session!.id]);
    const written = r.store.writes.at(-1)!;
    expect(written.tokenSource).toBe('renewed');
    expect(written.tokenExpiresAt.getTime()).toBe(r.clock.now() + 80 * MIN);
    expect(written.tokenExpiresAt.getTime()).toBeGreaterThan(storedExpiry);
    expect(r.log.sources(USER.name)).toEqual(['renewed']);
  });

  it('after a revoked session, renews once, then logs in only because nothing valid is left', async () => {
    r = await rig({
      users: [USER],
      credential: async (user, sim) => ({ ...(await linkViaOAuth(sim, user.name)), ...loginFields(user) }),
    });
    expect((await r.broker.listAccounts(USER.name)).ok).toBe(true);
    r.sim.revokeSessions(USER.name);
    const positions = await r.broker.positions(ACCOUNT);
    expect(positions).toEqual({ ok: true, value: [] });
    expect(r.sim.requests.count({ endpoint: 'auth/renewaccesstoken' })).toBe(1);
    expect(r.sim.requests.count({ endpoint: 'auth/accesstokenrequest' })).toBe(1);
    expect(r.states).toEqual([]);
  });

  it('without a login fallback, a refused token ends in needs_reauth, reported once, and nothing more is sent', async () => {
    r = await rig({ users: [USER] });
    expect((await r.broker.listAccounts(USER.name)).ok).toBe(true);
    r.sim.revokeSessions(USER.name);
    const first = await r.broker.positions(ACCOUNT);
    expect(first).toMatchObject({
      ok: false,
      error: { kind: 'unavailable', reason: 'NeedsReauth', retryable: false },
    });
    const sent = r.sim.requests.entries.length;
    const second = await r.broker.placeOrder({
      account: ACCOUNT,
      clientOrderId: 'tc.after-revoke',
      contract: 'MNQH6',
      side: 'buy',
      quantity: 1,
      type: 'market',
    });
    expect(second).toMatchObject({ ok: false, error: { reason: 'NeedsReauth' } });
    expect(r.sim.requests.entries.length).toBe(sent);
    expect(r.states.map(([id, state]) => [id, state])).toEqual([[USER.name, 'needs_reauth']]);
    expect(r.sim.requests.count({ endpoint: 'auth/accesstokenrequest' })).toBe(0);
  });

  it('logs in as a last resort when only API-access fields are stored, and never logs the password', async () => {
    r = await rig({ users: [USER], credential: async (user) => loginFields(user) });
    expect((await r.broker.listAccounts(USER.name)).ok).toBe(true);
    expect((await r.broker.positions(ACCOUNT)).ok).toBe(true);
    expect(r.sim.requests.count({ endpoint: 'auth/accesstokenrequest' })).toBe(1);
    expect(r.log.sources(USER.name)).toEqual(['login', 'cache']);
    expect(r.store.writes[0]?.tokenSource).toBe('login');
    expect(r.log.text()).not.toContain(USER.password);
    expect(r.log.text()).not.toContain(r.store.secrets.get(USER.name)!.accessToken);
  });
});
