/**
 * Run after the suite (`npm test`): fails when any log line the suite produced contains a secret a
 * test made with `testSecret`. Vitest ignores errors thrown in a global teardown, so this is a step
 * of its own.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LOG_DIR, SECRET_MARKER } from './helpers/log.js';

const leaks: string[] = [];
let lines = 0;
if (existsSync(LOG_DIR)) {
  for (const name of readdirSync(LOG_DIR)) {
    for (const line of readFileSync(join(LOG_DIR, name), 'utf8').split('\n')) {
      if (!line) continue;
      lines++;
      if (line.includes(SECRET_MARKER)) leaks.push(`${name}: ${line.slice(0, 300)}`);
    }
  }
}
if (leaks.length > 0) {
  console.error(`${leaks.length} log line(s) contain a secret:\n${leaks.slice(0, 20).join('\n')}`);
  process.exit(1);
}
console.log(`log scan: ${lines} log lines from the suite, no secret in any of them`);
