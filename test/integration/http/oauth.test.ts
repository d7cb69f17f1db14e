/**
 * Linking Tradovate logins through OAuth against the simulator's authorize page and token endpoint:
 * `/link` in chat → `/oauth/start` → Tradovate → `/oauth/callback`. The accounts land with the user
 * who asked; forged, replayed and expired states are refused before anything is exchanged or stored.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exchangeOAuthCode } from '../../../src/brokers/tradovate/index.js';
import { newToken } from '../../../src/http/tokens.js';
import type { Principal } from '../../../src/index.js';
import { type Simulator, startSimulator } from '../../fakes/tradovate/server.js';
import { addUser } from '../../helpers/fixtures.js';
import { makeUser } from '../tradovate/harness.js';
import { type HttpRig, startHttpRig, urlIn } from './rig.js';

const CLIENT = {
  clientId: 'tradecast-test',
  clientSecret: 'tradecast-test-client-secret',
  redirectUris: [] as string[],
};

describe('Tradovate OAuth linking', () => {
  let sim: Simulator;
  let rig: HttpRig;
  const clock = { offsetMs: 0, now: () => new Date(Date.now() + clock.offsetMs) };

  beforeAll(async () => {
    sim = await startSimulator({
      users: [makeUser(1, 3), makeUser(2, 2), makeUser(3, 1)],
      oauthClients: [CLIENT],
    });
    rig = await startHttpRig({
      clock,
      env: {
        TRADOVATE_REST_URL: sim.restUrl,
        TRADOVATE_OAUTH_CLIENT_ID: CLIENT.clientId,
        TRADOVATE_OAUTH_CLIENT_SECRET: CLIENT.clientSecret,
        TRADOVATE_OAUTH_AUTHORIZE_URL: sim.oauthAuthorizeUrl,
      },
      // What app.ts wires: exchangeOAuthCode on the REST base's token URL.
      oauth: (t) => ({
        authorizeUrl: t.app.config.TRADOVATE_OAUTH_AUTHORIZE_URL,
        clientId: t.app.config.TRADOVATE_OAUTH_CLIENT_ID!,
        environment: t.app.config.TRADOVATE_ENV,
        exchangeCode: ({ code, redirectUri }) =>
          exchangeOAuthCode({
            tokenUrl: `${t.app.config.TRADOVATE_REST_URL!.replace(/\/$/, '')}/auth/oauthtoken`,
            clientId: t.app.config.TRADOVATE_OAUTH_CLIENT_ID!,
            clientSecret: t.app.config.TRADOVATE_OAUTH_CLIENT_SECRET!,
            redirectUri,
            code,
          }),
      }),
    });
    // The redirect URI registered with Tradovate is this server's callback.
    CLIENT.redirectUris.push(`${rig.base}/oauth/callback`);
  });
  afterAll(async () => {
    await rig?.close();
    await sim?.close();
  });

  const trader = async (externalId: string) => {
    const user = await addUser(rig.t.app, { platform: 'telegram', externalId, roles: ['trader'] });
    const principal: Principal = { platform: 'telegram', userId: externalId, chatId: externalId };
    return { ...user, principal };
  };
  const linkFor = async (principal: Principal) => {
    const reply = await rig.commands.runText(principal, '/link');
    if (reply.kind !== 'ok') throw new Error(`expected a link, got ${JSON.stringify(reply)}`);
    return urlIn(reply.message);
  };
  /**
   * Follow the link to Tradovate, sign in there as `venueUser`, and return where Tradovate sends the
   * browser, with the cookie the browser got from `/oauth/start`.
   */
  const authorize = async (link: string, venueUser: string): Promise<{ callback: URL; cookie: string }> => {
    sim.oauth.user = venueUser;
    const start = await fetch(link, { redirect: 'manual' });
    expect(start.status).toBe(302);
    const cookie = start.headers
      .getSetCookie()
      .map((c) => c.split(';')[0]!)
      .join('; ');
    const authorizeUrl = new URL(start.headers.get('location')!);
    expect(authorizeUrl.origin + authorizeUrl.pathname).toBe(sim.oauthAuthorizeUrl);
    expect(authorizeUrl.searchParams.get('redirect_uri')).toBe(`${rig.base}/oauth/callback`);
    const approved = await fetch(authorizeUrl, { redirect: 'manual' });
    expect(approved.status).toBe(302);
    return { callback: new URL(approved.headers.get('location')!), cookie };
  };
  /** Tradovate's redirect back, in the browser that started the flow. */
  const back = (flow: { callback: URL; cookie: string }, url: URL = flow.callback) =>
    fetch(url, { headers: { cookie: flow.cookie } });
  const credentialsOf = (userId: string) => rig.stores.credentials.list({ ownerUserId: userId });
  const accountNames = async (userId: string) =>
    (await rig.stores.accounts.listForUser(userId)).map((a) => a.name).sort();
  const tokenCalls = () => sim.requests.filter({ endpoint: 'auth/oauthtoken' }).length;

  it("links the login's accounts to the user who sent /link and tells them in chat", async () => {
    const alice = await trader('8001');
    const flow = await authorize(await linkFor(alice.principal), 'trader1');
    const res = await back(flow);
    expect(res.status).toBe(200);
    const page = await res.text();
    for (const name of ['T1A1', 'T1A2', 'T1A3']) expect(page).toContain(name);

    expect(tokenCalls()).toBe(1);
    const [credential, ...more] = await credentialsOf(alice.userId);
    expect(more).toEqual([]);
    expect(credential).toMatchObject({
      broker: 'tradovate',
      kind: 'oauth',
      environment: 'demo',
      tokenSource: 'oauth',
      state: 'ok',
    });
    expect(credential!.tokenExpiresAt!.getTime()).toBeGreaterThan(Date.now());
    expect(await accountNames(alice.userId)).toEqual(['T1A1', 'T1A2', 'T1A3']);
    expect((await rig.stores.accounts.listForUser(alice.userId)).every((a) => a.broker === 'tradovate')).toBe(
      true,
    );
    // The token is stored, and the adapter trades with it.
    const listed = await rig.t.app.tradovate!.listAccounts(credential!.id);
    expect(listed.ok && listed.value.map((a) => a.name).sort()).toEqual(['T1A1', 'T1A2', 'T1A3']);
    const told = rig.notes.find((n) => n.type === 'text' && 'userId' in n.to && n.to.userId === '8001');
    expect(told).toMatchObject({ to: { platform: 'telegram', userId: '8001' } });
    expect(told?.type === 'text' && told.text).toMatch(
      /Linked your Tradovate demo login .*3 account\(s\): T1A1, T1A2, T1A3/,
    );
  });

  it('a forged state is refused before the code is exchanged, and nothing is stored', async () => {
    const bob = await trader('8002');
    const flow = await authorize(await linkFor(bob.principal), 'trader2');
    const calls = tokenCalls();
    const forged = new URL(flow.callback);
    forged.searchParams.set('state', newToken());
    expect((await back(flow, forged)).status).toBe(400);
    const missing = new URL(flow.callback);
    missing.searchParams.delete('state');
    expect((await back(flow, missing)).status).toBe(400);
    expect(tokenCalls()).toBe(calls);
    expect(await credentialsOf(bob.userId)).toEqual([]);
    expect(await accountNames(bob.userId)).toEqual([]);
    // The genuine answer still works: the forged one spent neither the state nor the code.
    expect((await back(flow)).status).toBe(200);
    expect(await accountNames(bob.userId)).toEqual(['T2A1', 'T2A2']);
  });

  it('a genuine state arriving in another browser (an authorize URL passed on) links nothing', async () => {
    const mallory = await trader('8006');
    const flow = await authorize(await linkFor(mallory.principal), 'trader3');
    const calls = tokenCalls();
    // The victim's browser has no cookie from /oauth/start, or one from a flow of its own.
    expect((await fetch(flow.callback)).status).toBe(400);
    const otherFlow = await authorize(await linkFor(mallory.principal), 'trader3');
    expect((await back({ ...flow, cookie: otherFlow.cookie })).status).toBe(400);
    expect(tokenCalls()).toBe(calls);
    expect(await credentialsOf(mallory.userId)).toEqual([]);
  });

  it('a replayed state is refused and nothing more is stored', async () => {
    const carol = await trader('8003');
    const link = await linkFor(carol.principal);
    const flow = await authorize(link, 'trader3');
    expect((await back(flow)).status).toBe(200);
    const before = await credentialsOf(carol.userId);
    const calls = tokenCalls();
    const replay = await back(flow);
    expect(replay.status).toBe(400);
    expect(await replay.text()).toMatch(/already used|expired/);
    expect(tokenCalls()).toBe(calls);
    expect(await credentialsOf(carol.userId)).toEqual(before);
    // The /link URL linked once; it starts nothing more.
    expect((await fetch(link, { redirect: 'manual' })).status).toBe(400);
  });

  it('an expired state is refused and nothing is stored', async () => {
    const dave = await trader('8004');
    const flow = await authorize(await linkFor(dave.principal), 'trader3');
    clock.offsetMs = 11 * 60_000;
    try {
      expect((await back(flow)).status).toBe(400);
    } finally {
      clock.offsetMs = 0;
    }
    expect(await credentialsOf(dave.userId)).toEqual([]);
  });

  it('linking the same login again re-links its credential instead of adding a second lane', async () => {
    const alice = (await rig.stores.users.findByIdentity('telegram', '8001'))!;
    const [before] = await credentialsOf(alice.id);
    const res = await back(
      await authorize(await linkFor({ platform: 'telegram', userId: '8001' }), 'trader1'),
    );
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/Re-linked/);
    const after = await credentialsOf(alice.id);
    expect(after.map((c) => c.id)).toEqual([before!.id]);
    expect(after[0]!.tokenExpiresAt!.getTime()).toBeGreaterThanOrEqual(before!.tokenExpiresAt!.getTime());
    expect(await accountNames(alice.id)).toEqual(['T1A1', 'T1A2', 'T1A3']);
    const listed = await rig.t.app.tradovate!.listAccounts(before!.id);
    expect(listed.ok).toBe(true);
  });

  it('a login whose accounts belong to another user is refused, and the attempt leaves nothing', async () => {
    const eve = await trader('8005');
    const res = await back(await authorize(await linkFor(eve.principal), 'trader1'));
    expect(res.status).toBe(409);
    expect(await credentialsOf(eve.userId)).toEqual([]);
    expect(await accountNames(eve.userId)).toEqual([]);
  });

  it('a link that is not one of ours starts nothing', async () => {
    expect((await fetch(`${rig.base}/oauth/start?t=${newToken()}`, { redirect: 'manual' })).status).toBe(400);
    expect((await fetch(`${rig.base}/oauth/start?t=short`, { redirect: 'manual' })).status).toBe(400);
  });
});
