/**
 * The dashboard in a real browser (Debian's Chromium driven by playwright-core): sign in with the
 * one-time link `/dashboard` hands out, watch a signal's outcome arrive without reloading, edit an
 * account's multiplier, and set an API key in the modal, which the page never shows again.
 * Screenshots go to test-artifacts/screenshots/.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Principal } from '../../src/index.js';
import { type Simulator, startSimulator } from '../fakes/tradovate/server.js';
import { addUser, type TestUser } from '../helpers/fixtures.js';
import { testSecret } from '../helpers/log.js';
import { type HttpRig, startHttpRig, urlIn } from '../integration/http/rig.js';

const SHOTS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test-artifacts', 'screenshots');

describe('dashboard in a browser', () => {
  let sim: Simulator;
  let rig: HttpRig;
  let admin: TestUser;
  let credentialId: string;
  let profile: string;
  let browser: BrowserContext;
  let page: Page;
  /** Every text the browser received from the server, to prove the secret never came back. */
  const received: string[] = [];
  const principal: Principal = { platform: 'telegram', userId: '9900', chatId: '9900' };
  const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    sim = await startSimulator();
    rig = await startHttpRig({ env: { TRADOVATE_REST_URL: sim.restUrl } });
    admin = await addUser(rig.t.app, {
      platform: 'telegram',
      externalId: '9900',
      roles: ['admin'],
      accounts: 2,
      name: 'Dana (admin)',
    });
    const credential = await rig.stores.credentials.create({
      ownerUserId: admin.userId,
      broker: 'tradovate',
      environment: 'demo',
      kind: 'oauth',
      label: 'Tradovate demo main',
      secret: {},
    });
    credentialId = credential.id;
    rig.t.app.exchange.setPrice('MNQ', 21500);
    profile = mkdtempSync(join(tmpdir(), 'tradecast-chromium-'));
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1400, height: 900 },
    });
    page = browser.pages()[0] ?? (await browser.newPage());
    page.setDefaultTimeout(10_000);
    page.on('response', async (response) => {
      const type = response.headers()['content-type'] ?? '';
      if (!/html|json|event-stream|javascript/.test(type) || type.includes('event-stream')) return;
      try {
        received.push(await response.text());
      } catch {
        // Redirects have no body to read.
      }
    });
  });

  afterAll(async () => {
    await browser?.close();
    await rig?.close();
    await sim?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('signs in with the one-time link from /dashboard', async () => {
    const reply = await rig.commands.runText(principal, '/dashboard');
    if (reply.kind !== 'ok') throw new Error(JSON.stringify(reply));
    await page.goto(urlIn(reply.message));
    expect(await page.locator('main').textContent()).toContain('Dana (admin)');
    await page.click('#sign-in');
    await page.waitForURL(`${rig.base}/dashboard`);
    await expect(page.locator('h1').textContent()).resolves.toBe('Signals');
    await expect(page.locator('#reconciliation').textContent()).resolves.toContain('No cycle yet.');
    await shot('01-signed-in');
  });

  it("shows a signal's outcome as soon as its fan-out finishes, without reloading", async () => {
    await page.waitForSelector('body[data-live="on"]');
    await page.evaluate(() => {
      (window as unknown as { stayed: boolean }).stayed = true;
    });
    const reply = await rig.commands.runText(principal, '/buy MNQ 1 tp=20 sl=10');
    if (reply.kind !== 'fanout') throw new Error(JSON.stringify(reply));
    const row = page.locator(`#signals tr[data-signal-id="${reply.summary.signalId}"]`);
    await row.waitFor();
    const cells = await row.locator('td').allTextContents();
    expect(cells).toContain('BUY MNQ 1 tp 20pt sl 10pt');
    // Accounts, filled: both of the admin's accounts filled.
    expect(cells.slice(5, 7)).toEqual(['2', '2']);
    expect(await page.evaluate(() => (window as unknown as { stayed?: boolean }).stayed)).toBe(true);
    await shot('02-live-outcome');
    await row.locator('a').click();
    await page.waitForURL(`${rig.base}/dashboard/signals/${reply.summary.signalId}`);
    await expect(page.locator('#outcomes').textContent()).resolves.toContain('9900-1');
    await expect(page.locator('#journal').textContent()).resolves.toContain('acked');
    await shot('03-signal-journal');
  });

  it("edits an account's multiplier", async () => {
    await page.click('nav >> text=Accounts');
    await page.waitForURL(`${rig.base}/dashboard/accounts`);
    const id = admin.accountIds[0]!;
    const row = page.locator(`#account-${id}`);
    await row.locator('input[name="multiplier"]').fill('2');
    await row.locator('button[type="submit"]').click();
    await page.waitForSelector('.notice');
    await expect(page.locator('.notice').textContent()).resolves.toContain('Account saved.');
    await expect(page.locator(`#account-${id} input[name="multiplier"]`).inputValue()).resolves.toBe('2');
    expect((await rig.stores.accounts.get(id))!.multiplier).toBe(2);
    await shot('04-account-edited');
  });

  it('sets an API key in the modal; the secret is stored encrypted and never shown again', async () => {
    const secret = testSecret('api-key');
    await page.click('nav >> text=Credentials');
    await page.waitForURL(`${rig.base}/dashboard/credentials`);
    const row = page.locator(`tr[data-credential-id="${credentialId}"]`);
    await expect(row.locator('.api-key-state').textContent()).resolves.toBe('not set');
    await row.locator('button[data-open]').click();
    const dialog = page.locator(`#api-key-${credentialId}`);
    await dialog.waitFor({ state: 'visible' });
    await dialog.locator('input[name="cid"]').fill('4242');
    await dialog.locator('input[name="secret"]').fill(secret);
    await dialog.locator('input[name="appId"]').fill('tradecast');
    await dialog.locator('input[name="deviceId"]').fill('tradecast-e2e');
    await shot('05-api-key-modal');
    await dialog.locator('button[type="submit"]').click();
    await page.waitForSelector('.notice');
    await expect(page.locator('.notice').textContent()).resolves.toContain('API key saved');
    await expect(row.locator('.api-key-state').textContent()).resolves.toMatch(
      /^set on \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/,
    );
    await expect(row.locator('button[data-open]').textContent()).resolves.toBe('Rotate API key');
    // The modal opens empty for a rotation; nothing of the old key is in the page.
    await row.locator('button[data-open]').click();
    await dialog.waitFor({ state: 'visible' });
    await expect(dialog.locator('input[name="secret"]').inputValue()).resolves.toBe('');
    await expect(dialog.locator('input[name="cid"]').inputValue()).resolves.toBe('');
    await dialog.locator('button[data-close]').click();
    await page.reload();
    expect(await page.content()).not.toContain(secret);
    expect(received.length).toBeGreaterThan(5);
    expect(received.some((text) => text.includes(secret))).toBe(false);
    await shot('06-api-key-set');

    const stored = await rig.t.app.stores.credentials.readSecret(credentialId);
    expect(stored).toMatchObject({ cid: 4242, sec: secret, appId: 'tradecast', deviceId: 'tradecast-e2e' });
    expect((await rig.stores.credentials.get(credentialId))!.apiKeySetAt).toBeInstanceOf(Date);
  });

  it('explains device authorization for live accounts', async () => {
    await page.click('nav >> text=Device authorization');
    await page.waitForURL(`${rig.base}/dashboard/help/device-authorization`);
    await expect(page.locator('main').textContent()).resolves.toContain('approved devices');
    await shot('07-device-authorization');
  });
});
