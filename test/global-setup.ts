/** Before the suite: clear the logs of an earlier run, so the scan after it reads only this one's. */
import { rmSync } from 'node:fs';
import { LOG_DIR } from './helpers/log.js';

export function setup(): void {
  rmSync(LOG_DIR, { recursive: true, force: true });
}
