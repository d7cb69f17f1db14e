/**
 * The README's start command (`npm start`: build, then run the JavaScript) on a fresh data folder:
 * the service comes up on embedded defaults with the console, trades the demo accounts and shuts
 * down cleanly when its input ends.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/app.js';
import { recordLogText } from '../helpers/log.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('npm start on embedded defaults', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tradecast-start-'));
  let child: ChildProcess;
  let stdout = '';
  let stderr = '';
  let exitCode: number | null = null;

  beforeAll(() => {
    child = spawn('npm', ['start', '--silent'], {
      cwd: root,
      env: { PATH: process.env.PATH, DATA_DIR: dataDir, CONSOLE: 'on', LOG_LEVEL: 'info', HTTP_PORT: '0' },
      stdio: ['pipe', 'pipe', 'pipe'],
      // npm runs the service as its child: a group of their own, so a failed test can stop both.
      detached: true,
    });
    child.stdout!.on('data', (d) => {
      stdout += String(d);
    });
    child.stderr!.on('data', (d) => {
      stderr += String(d);
    });
    child.on('exit', (code) => {
      exitCode = code;
    });
  });
  afterAll(() => {
    recordLogText(stderr);
    if (exitCode === null) process.kill(-child.pid!, 'SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function type(line: string, expected: RegExp): Promise<string> {
    const from = stdout.length;
    child.stdin!.write(`${line}\n`);
    return waitFor(
      () => (expected.test(stdout.slice(from)) ? stdout.slice(from) : null),
      `${expected}`,
      20_000,
    );
  }

  it('comes up with the console and a generated encryption key (mode 0600)', async () => {
    await waitFor(() => stdout.includes('> '), 'the prompt', 30_000);
    expect(stderr).toMatch(/generated a new encryption key/i);
    expect(statSync(join(dataDir, 'encryption.key')).mode & 0o777).toBe(0o600);
    expect(stderr).toMatch(/created the demo/);
    // The web server is up on the port it was given (0: any free one), and healthy.
    const url = await waitFor(() => /"url":"(http:\/\/[^"]+)"/.exec(stderr)?.[1], 'the web server');
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it('trades the demo accounts and flattens them', async () => {
    expect(await type('/buy MNQ 1 tp=20 sl=10', /filled 20/)).toMatch(/on 20 account\(s\)/);
    expect(await type('/positions', /DEMO-5-4.*working 2/)).toMatch(/Positions over 20 account/);
    await type('/flatten all', /\[y\/N\]/);
    expect(await type('yes', /flat 20/)).not.toMatch(/rejected|unknown/);
    await type('/positions', /All 20 account\(s\) are flat/);
  });

  it('refuses a second service on the same data folder, and says who holds it', async () => {
    const second = spawnSync(process.execPath, ['dist/src/main.js'], {
      cwd: root,
      env: { PATH: process.env.PATH, DATA_DIR: dataDir, CONSOLE: 'off', HTTP_PORT: '0' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(second.status).toBe(2);
    expect(second.stderr).toMatch(/did not start: the database folder .*pglite is in use by process \d+/);
    // The first one goes on undisturbed.
    await type('/positions', /All 20 account\(s\) are flat/);
  });

  it('stops cleanly when its input ends', async () => {
    child.stdin!.end();
    await waitFor(() => exitCode !== null, 'the process to exit', 20_000);
    expect(exitCode).toBe(0);
    expect(stderr).toMatch(/database closed/);
    expect(existsSync(join(dataDir, 'pglite.lock'))).toBe(false);
  });
});
