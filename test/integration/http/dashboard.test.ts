/**
 * The dashboard over plain HTTP: one-time sign-in links, signed session cookies, CSRF on every form,
 * security headers, what traders may see and change, and the reconciliation section.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReconcileReport } from '../../../src/http/index.js';
import type { Principal } from '../../../src/index.js';
import { addUser, type TestUser } from '../../helpers/fixtures.js';
import { type HttpRig, startHttpRig, urlIn } from './rig.js';

/** A browser's cookie jar, just enough for these requests. */
class Jar {
  private readonly cookies = new Map<string, string>();
  take(res: Response): Response {
    for (const line of res.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const at = pair.indexOf('=');
      const name = pair.slice(0, at).trim();
      const value = pair.slice(at + 1).trim();
      if (value === '' || /max-age=0|expires=thu, 01 jan 1970/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return res;
  }
  get header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
  has(name: string): boolean {
    return this.cookies.has(name);
  }
}

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const csrfIn = (page: string) => /name="_csrf" value="([^"]+)"/.exec(page)?.[1] ?? '';

describe('dashboard over HTTP', () => {
  let rig: HttpRig;
  let admin: TestUser;
  let trader: TestUser;
  let other: TestUser;
  let cycle: ReconcileReport | null = null;

  beforeAll(async () => {
    rig = await startHttpRig({ lastReconciliation: () => cycle });
    admin = await addUser(rig.t.app, { platform: 'telegram', externalId: '9500', roles: ['admin'] });
    trader = await addUser(rig.t.app, {
      platform: 'telegram',
      externalId: '9501',
      roles: ['trader'],
      accounts: 2,
    });
    other = await addUser(rig.t.app, {
      platform: 'telegram',
      externalId: '9502',
      roles: ['trader'],
      accounts: 1,
    });
  });
  afterAll(async () => rig?.close());

  const linkFor = async (user: TestUser) => {
    const principal: Principal = { platform: 'telegram', userId: user.externalId };
    if (user !== admin) {
      // The command policy lets only admins run /dashboard until it lists the command for other
      // roles; the link it would hand out comes from the same issuer.
      return (await rig.server.links.dashboardUrl(user.userId, principal)).url;
    }
    const reply = await rig.commands.runText(principal, '/dashboard');
    if (reply.kind !== 'ok') throw new Error(JSON.stringify(reply));
    return urlIn(reply.message);
  };
  const signIn = async (user: TestUser, jar = new Jar()) => {
    const link = new URL(await linkFor(user));
    const res = jar.take(
      await fetch(`${rig.base}/signin`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form({ t: link.searchParams.get('t')! }),
        redirect: 'manual',
      }),
    );
    expect(res.status).toBe(303);
    return jar;
  };
  const get = async (jar: Jar, path: string) =>
    jar.take(
      await fetch(`${rig.base}${path}`, {
        headers: { cookie: jar.header, accept: 'text/html' },
        redirect: 'manual',
      }),
    );
  const post = async (jar: Jar, path: string, fields: Record<string, string>) =>
    jar.take(
      await fetch(`${rig.base}${path}`, {
        method: 'POST',
        headers: {
          cookie: jar.header,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'text/html',
        },
        body: form(fields),
        redirect: 'manual',
      }),
    );

  it('a sign-in link asks for a click, works once, and sets a signed, HttpOnly session cookie', async () => {
    const link = await linkFor(admin);
    expect(link).toMatch(new RegExp(`^${rig.base}/signin\\?t=[A-Za-z0-9_-]{43}$`));
    // Opening the link (as a chat app's preview does) does not spend it.
    for (let i = 0; i < 2; i++) {
      const page = await fetch(link);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('action="/signin"');
    }
    const t = new URL(link).searchParams.get('t')!;
    const body = form({ t });
    const headers = { 'content-type': 'application/x-www-form-urlencoded' };
    const first = await fetch(`${rig.base}/signin`, { method: 'POST', headers, body, redirect: 'manual' });
    expect(first.status).toBe(303);
    expect(first.headers.get('location')).toBe('/dashboard');
    const cookie = first.headers.getSetCookie().find((c) => c.startsWith('tc_session='))!;
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Lax/i);
    const again = await fetch(`${rig.base}/signin`, { method: 'POST', headers, body, redirect: 'manual' });
    expect(again.status).toBe(400);
    expect((await fetch(link)).status).toBe(400);
  });

  it('a sign-in posted from another site is refused and does not spend the link', async () => {
    const t = new URL(await linkFor(trader)).searchParams.get('t')!;
    const headers = { 'content-type': 'application/x-www-form-urlencoded' };
    const foreign: Record<string, string>[] = [
      { origin: 'https://evil.example' },
      { 'sec-fetch-site': 'cross-site' },
    ];
    for (const extra of foreign) {
      const res = await fetch(`${rig.base}/signin`, {
        method: 'POST',
        headers: { ...headers, ...extra },
        body: form({ t }),
        redirect: 'manual',
      });
      expect(res.status).toBe(403);
      expect(res.headers.getSetCookie().some((c) => c.startsWith('tc_session='))).toBe(false);
    }
    const own = await fetch(`${rig.base}/signin`, {
      method: 'POST',
      headers: { ...headers, origin: rig.base, 'sec-fetch-site': 'same-origin' },
      body: form({ t }),
      redirect: 'manual',
    });
    expect(own.status).toBe(303);
  });

  it('a tampered session cookie is not a session', async () => {
    const jar = await signIn(trader);
    const forged = jar.header.replace(/tc_session=([^.;]+)\./, `tc_session=${admin.userId}.`);
    const res = await fetch(`${rig.base}/dashboard/accounts`, {
      headers: { cookie: forged, accept: 'text/html' },
    });
    expect(res.status).toBe(401);
    expect((await fetch(`${rig.base}/events`)).status).toBe(401);
  });

  it('pages carry security headers and no inline script', async () => {
    const jar = await signIn(admin);
    const res = await get(jar, '/dashboard');
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const page = await res.text();
    expect(page).not.toMatch(/<script>(?!<\/script>)|<script(?![^>]*\bsrc=)[^>]*>/);
    expect(page).toContain('No cycle yet.');
  });

  it('forms without a valid CSRF token are refused and change nothing', async () => {
    const jar = await signIn(trader);
    const id = trader.accountIds[0]!;
    const fields = { multiplier: '3', maxQuantity: '', symbolMap: '', enabled: 'on' };
    expect((await post(jar, `/dashboard/accounts/${id}`, fields)).status).toBe(403);
    expect((await post(jar, `/dashboard/accounts/${id}`, { ...fields, _csrf: 'forged' })).status).toBe(403);
    expect((await rig.stores.accounts.get(id))!.multiplier).toBe(1);
    // Tokens are bound to the user: the same browser (same CSRF cookie) signed in as someone else
    // cannot use a token it was given before.
    const shared = await signIn(admin);
    const adminToken = csrfIn(await (await get(shared, '/dashboard/accounts')).text());
    expect(shared.has('_csrf')).toBe(true);
    await signIn(trader, shared);
    expect((await post(shared, `/dashboard/accounts/${id}`, { ...fields, _csrf: adminToken })).status).toBe(
      403,
    );
    expect((await rig.stores.accounts.get(id))!.multiplier).toBe(1);
    const traderToken = csrfIn(await (await get(shared, '/dashboard/accounts')).text());
    expect((await post(shared, `/dashboard/accounts/${id}`, { ...fields, _csrf: traderToken })).status).toBe(
      303,
    );
    expect((await rig.stores.accounts.get(id))!.multiplier).toBe(3);
    await rig.stores.accounts.update(id, { multiplier: 1 });
  });

  it('a trader sees and edits only their own accounts; a bad value is refused with the reason', async () => {
    const jar = await signIn(trader);
    const page = await (await get(jar, '/dashboard/accounts')).text();
    expect(page).toContain('9501-1');
    expect(page).not.toContain('9502-1');
    const csrf = csrfIn(page);
    const mine = trader.accountIds[0]!;
    const saved = await post(jar, `/dashboard/accounts/${mine}`, {
      _csrf: csrf,
      enabled: 'on',
      multiplier: '2.5',
      maxQuantity: '4',
      symbolMap: 'nq=mnq, ES=MES',
    });
    expect(saved.status).toBe(303);
    expect(await rig.stores.accounts.get(mine)).toMatchObject({
      enabled: true,
      multiplier: 2.5,
      maxQuantity: 4,
      symbolMap: { NQ: 'MNQ', ES: 'MES' },
    });
    const bad = await post(jar, `/dashboard/accounts/${mine}`, {
      _csrf: csrf,
      multiplier: '0',
      maxQuantity: '',
      symbolMap: '',
    });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toMatch(/multiplier must be a number above 0/);
    expect((await rig.stores.accounts.get(mine))!.multiplier).toBe(2.5);
    const theirs = other.accountIds[0]!;
    const refused = await post(jar, `/dashboard/accounts/${theirs}`, {
      _csrf: csrf,
      multiplier: '9',
      symbolMap: '',
    });
    expect(refused.status).toBe(404);
    expect((await rig.stores.accounts.get(theirs))!.multiplier).toBe(1);
  });

  it('a trader sees only the signals and outcomes of their own accounts', async () => {
    rig.t.app.exchange.setPrice('MNQ', 21500);
    const mine = await rig.commands.runText({ platform: 'telegram', userId: '9501' }, '/buy MNQ 1');
    const theirs = await rig.commands.runText({ platform: 'telegram', userId: '9502' }, '/buy MNQ 1');
    if (mine.kind !== 'fanout' || theirs.kind !== 'fanout') throw new Error('expected fan-outs');
    const jar = await signIn(trader);
    const list = await (await get(jar, '/dashboard')).text();
    expect(list).toContain(`data-signal-id="${mine.summary.signalId}"`);
    expect(list).not.toContain(`data-signal-id="${theirs.summary.signalId}"`);
    expect((await get(jar, `/dashboard/signals/${theirs.summary.signalId}`)).status).toBe(404);
    const detail = await (await get(jar, `/dashboard/signals/${mine.summary.signalId}`)).text();
    expect(detail).toContain('9501-1');
    expect(detail).toContain('acked');
    const adminList = await (await get(await signIn(admin), '/dashboard')).text();
    expect(adminList).toContain(`data-signal-id="${theirs.summary.signalId}"`);

    // A signal to everyone's accounts: the trader's row counts their two accounts, the admin's all three.
    const all = await rig.commands.runText(
      { platform: 'telegram', userId: '9500' },
      '/buy MNQ 1 account=all',
    );
    if (all.kind !== 'fanout') throw new Error(`expected a fan-out, got ${all.kind}`);
    const row = (page: string) =>
      new RegExp(`<tr data-signal-id="${all.summary.signalId}">[\\s\\S]*?</tr>`).exec(page)?.[0] ?? '';
    const counts = (page: string) =>
      [...row(page).matchAll(/kind-(accounts|filled)">(\d+)</g)].map(([, kind, n]) => `${kind} ${n}`);
    expect(counts(await (await get(jar, '/dashboard')).text())).toEqual(['accounts 2', 'filled 2']);
    expect(counts(await (await get(await signIn(admin), '/dashboard')).text())).toEqual([
      'accounts 3',
      'filled 3',
    ]);
  });

  it('the last reconciliation cycle shows its findings once the job has run', async () => {
    const account = (user: TestUser) => ({
      accountId: user.accountIds[0]!,
      accountName: `${user.externalId}-1`,
      ownerUserId: user.userId,
      credentialId: '1',
    });
    cycle = {
      cycle: 7,
      signalId: null,
      startedAt: new Date('2026-01-05T15:00:00Z'),
      finishedAt: new Date('2026-01-05T15:00:02Z'),
      durationMs: 2000,
      accounts: 3,
      checked: 3,
      clean: 1,
      busy: 0,
      deferred: 0,
      failed: 0,
      settled: 0,
      repaired: 1,
      newFindings: 2,
      aborted: false,
      results: [
        {
          ...account(trader),
          status: 'drift',
          findings: [
            {
              kind: 'orphan_exit',
              action: 'cancelled',
              contract: 'MNQH6',
              detail: 'a take-profit with no position',
              new: true,
            },
          ],
        },
        {
          ...account(other),
          status: 'drift',
          findings: [
            {
              kind: 'size_mismatch',
              action: 'modified',
              contract: 'MNQH6',
              detail: 'stop for 1, position 2',
              new: true,
            },
          ],
        },
      ],
    };
    const page = await (await get(await signIn(trader), '/dashboard')).text();
    expect(page).toContain('2026-01-05 15:00:00 UTC');
    expect(page).toContain('Cycle 7');
    expect(page).toContain('orphan_exit');
    expect(page).not.toContain('size_mismatch');
    expect(page).not.toContain('No cycle yet.');
  });

  it('a webhook source is made from the dashboard and its token is shown once', async () => {
    const jar = await signIn(trader);
    const page = await (await get(jar, '/dashboard/webhooks')).text();
    const res = await post(jar, '/dashboard/webhooks', {
      _csrf: csrfIn(page),
      label: 'my strategy',
      allowedIps: '',
    });
    expect(res.status).toBe(200);
    const created = await res.text();
    const url = /id="created-url">([^<]+)</.exec(created)?.[1];
    expect(url).toMatch(new RegExp(`^${rig.base}/webhooks/tradingview/\\d+\\.[A-Za-z0-9_-]{43}$`));
    const listed = await (await get(jar, '/dashboard/webhooks')).text();
    expect(listed).toContain('my strategy');
    expect(listed).not.toContain(url!.split('.').pop()!);
    const bad = await post(jar, '/dashboard/webhooks', {
      _csrf: csrfIn(listed),
      label: 'x',
      allowedIps: 'not-an-ip',
    });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('not an IP address or CIDR range: not-an-ip');
  });
});
