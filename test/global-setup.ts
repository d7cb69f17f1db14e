/** Before the suite: clear old logs. After it: fail if any log line carries a test secret. */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { LOG_DIR, SECRET_MARKER } from './helpers/log.js';

export function setup(): void {
  rmSync(LOG_DIR, { recursive: true, force: true });
}

export function teardown(): void {
  if (!existsSync(LOG_DIR)) return;
  const leaks: string[] = [];
  let lines = 0;
  for (const name of readdirSync(LOG_DIR)) {
    for (const line of readFileSync(join(LOG_DIR, name), 'utf8').split('\n')) {
      lines++;
      if (line.includes(SECRET_MARKER)) leaks.push(`${name}: ${line.slice(0, 300)}`);
    }
  }
  if (leaks.length > 0) {
    throw new Error(`${leaks.length} log line(s) contain a secret:\n${leaks.slice(0, 20).join('\n')}`);
  }
  process.stdout.write(`log scan: ${lines} log lines from the suite, no secret in any of them\n`);
}
