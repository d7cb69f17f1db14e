import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { checkArchitecture } from '../helpers/architecture.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('dependency rules of DESIGN.md', () => {
  it('the project breaks none of them', () => {
    expect(checkArchitecture(root)).toEqual([]);
  });

  describe('the checker catches each kind of violation', () => {
    const scratch = mkdtempSync(join(tmpdir(), 'tradecast-arch-'));
    const file = (path: string, text: string) => {
      mkdirSync(dirname(join(scratch, path)), { recursive: true });
      writeFileSync(join(scratch, path), text);
    };
    afterAll(() => rmSync(scratch, { recursive: true, force: true }));

    file('src/index.ts', 'export {};\n');
    file('src/engine/engine.ts', "import type { X } from '../brokers/tradovate/broker.js';\n");
    file('src/brokers/broker.ts', 'export {};\n');
    file('src/brokers/tradovate/broker.ts', "import { Engine } from '../../engine/engine.js';\n");
    file('src/domain/types.ts', "import pino from 'pino';\nimport { db } from '../db/client.js';\n");
    file(
      'src/commands/buy.ts',
      "import { sql } from 'drizzle-orm';\nimport { openDatabase } from '../db/client.js';\n",
    );
    file('src/db/client.ts', 'export const db = 1;\n');
    file(
      'src/jobs/x.ts',
      "import { helper } from '../../test/fakes/x.js';\nimport { bot } from '../../bots/telegram/bot.js';\n",
    );
    file(
      'bots/discord/handlers.ts',
      "import { Engine } from '../../src/engine/engine.js';\nimport { ok } from '../../src/index.js';\n",
    );
    const violations = checkArchitecture(scratch);
    const has = (fragment: string) => violations.some((v) => v.includes(fragment));

    it('bots/ importing a file under src/ other than src/index.ts', () => {
      expect(violations).toContain(
        'bots/discord/handlers.ts: bots/ may import only src/index.ts: ../../src/engine/engine.js',
      );
      expect(violations.filter((v) => v.includes('src/index.js'))).toEqual([]);
    });
    it('src/ importing bots/', () => expect(has('src/jobs/x.ts: src/ must not import bots/')).toBe(true));
    it('domain/ importing I/O or other layers', () => {
      expect(has('src/domain/types.ts: domain/ must not import I/O packages: pino')).toBe(true);
      expect(has('src/domain/types.ts: domain/ imports only domain/')).toBe(true);
    });
    it('a venue folder imported outside brokers/', () =>
      expect(has('src/engine/engine.ts: a venue folder')).toBe(true));
    it('a venue folder reaching into the engine', () =>
      expect(has('src/brokers/tradovate/broker.ts: brokers/tradovate may import only')).toBe(true));
    it('drizzle outside db/ and building the database outside app.ts', () => {
      expect(has('src/commands/buy.ts: drizzle and database drivers are used only inside db/')).toBe(true);
      expect(has('src/commands/buy.ts: only app.ts may build the database')).toBe(true);
    });
    it('anything importing test/', () =>
      expect(has('src/jobs/x.ts: nothing outside test/ imports test/')).toBe(true));
  });
});
