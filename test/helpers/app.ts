/**
 * The whole service in-process for integration tests, on PGlite (a temporary data folder) or on
 * PostgreSQL (a schema of its own, dropped at the end).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { Engine } from '../../src/engine/engine.js';
import { type App, createApp, loadConfig } from '../../src/index.js';
import type { TestDriver } from './db.js';
import { type CapturedLog, captureLog } from './log.js';

export interface TestApp {
  readonly app: App;
  readonly logs: CapturedLog;
  stop(): Promise<void>;
}

export async function startTestApp(
  driver: TestDriver,
  env: Record<string, string> = {},
  options: { exchange?: App['exchange'] } = {},
): Promise<TestApp> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tradecast-app-'));
  const schema = driver === 'postgres' ? `app_${randomBytes(6).toString('hex')}` : undefined;
  const url = driver === 'postgres' ? process.env.TEST_DATABASE_URL : undefined;
  const config = loadConfig({
    DATA_DIR: dataDir,
    LOG_LEVEL: 'debug',
    DEMO: 'on',
    ...(url ? { DATABASE_URL: url, TRADECAST_ENCRYPTION_KEY: randomBytes(32).toString('base64') } : {}),
    ...env,
  });
  const logs = captureLog();
  const app = await createApp({
    config,
    log: logs.log,
    ...(schema ? { databaseSchema: schema } : {}),
    ...(options.exchange ? { exchange: options.exchange } : {}),
  });
  return {
    app,
    logs,
    async stop() {
      await app.close();
      if (url && schema) {
        const sql = postgres(url, { max: 1, onnotice: () => {} });
        await sql.unsafe(`drop schema if exists "${schema}" cascade`);
        await sql.end();
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Poll until `check` returns a truthy value; never a fixed sleep. */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  what: string,
  timeoutMs = 10_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** An engine on the app's stores and brokers as a process started `laterMs` from now would see them. */
export function laterEngine(t: TestApp, laterMs: number): Engine {
  return new Engine({
    brokers: t.app.brokers,
    signals: t.app.stores.signals,
    journal: t.app.stores.journal,
    settings: t.app.stores.settings,
    clock: { now: () => new Date(Date.now() + laterMs) },
    log: t.logs.log,
  });
}
