/**
 * A pino logger that writes into memory, so tests can read what would have been logged. Every line
 * is also appended to test-artifacts/logs/, which the global teardown scans for secrets: no log
 * line of the whole suite may contain a value made by {@link testSecret}.
 */

import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createLogger, type Logger } from '../../src/log.js';

export const LOG_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test-artifacts', 'logs');
/** Every secret a test makes carries this marker, so the teardown can find leaks. */
export const SECRET_MARKER = 'tcsecret';

/** A secret value for a test: unique, and recognisable if it ever reaches a log. */
export function testSecret(label: string): string {
  return `${SECRET_MARKER}-${label}-${randomBytes(6).toString('hex')}`;
}

export interface CapturedLog {
  readonly log: Logger;
  readonly lines: string[];
  text(): string;
}

/** Append text that a test saw from a child process or a server to the scanned log files. */
export function recordLogText(text: string): void {
  mkdirSync(LOG_DIR, { recursive: true });
  appendFileSync(join(LOG_DIR, `worker-${process.pid}.log`), text.endsWith('\n') ? text : `${text}\n`);
}

export function captureLog(level = 'debug'): CapturedLog {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      const text = String(chunk);
      lines.push(...text.split('\n').filter(Boolean));
      recordLogText(text);
      done();
    },
  });
  const log = createLogger({ level, destination });
  return { log, lines, text: () => lines.join('\n') };
}
