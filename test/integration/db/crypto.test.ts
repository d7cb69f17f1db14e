import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type KeyLog, loadEncryptionKey, SecretBox } from '../../../src/db/index.js';

function recordingLog() {
  const lines: Array<{ level: 'info' | 'warn'; obj: object; msg: string }> = [];
  const log: KeyLog = {
    info: (obj, msg) => lines.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => lines.push({ level: 'warn', obj, msg }),
  };
  return { log, lines };
}

describe('SecretBox', () => {
  const box = new SecretBox(randomBytes(32));

  it('round-trips text, including non-ASCII', () => {
    const text = JSON.stringify({ password: 'pässwörd ✓', n: 1 });
    expect(box.open(box.seal(text))).toBe(text);
  });

  it('uses a fresh IV for every seal', () => {
    const a = box.seal('same');
    const b = box.seal('same');
    expect(a).not.toBe(b);
    expect(Buffer.from(a.split(':')[1]!, 'base64')).toHaveLength(12);
  });

  it('refuses altered ciphertext and a different key', () => {
    const sealed = box.seal('secret');
    const [v, iv, tag, ct] = sealed.split(':');
    const flipped = Buffer.from(ct!, 'base64');
    flipped[0]! ^= 1;
    expect(() => box.open([v, iv, tag, flipped.toString('base64')].join(':'))).toThrow(/altered/);
    expect(() => new SecretBox(randomBytes(32)).open(sealed)).toThrow(/wrong encryption key/);
    expect(() => box.open('not sealed')).toThrow(/malformed/);
  });

  it('accepts only 32-byte keys', () => {
    expect(() => new SecretBox(randomBytes(16))).toThrow(/32 bytes/);
  });
});

describe('loadEncryptionKey', () => {
  let dataDir: string;
  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'tradecast-key-'));
  });
  afterEach(() => rm(dataDir, { recursive: true, force: true }));

  it('uses the environment key, given as base64 or hex, over everything else', async () => {
    const key = randomBytes(32);
    const { log } = recordingLog();
    expect(await loadEncryptionKey({ keyFromEnv: key.toString('base64'), embedded: false, log })).toEqual(
      key,
    );
    expect(
      await loadEncryptionKey({ keyFromEnv: key.toString('hex'), dataDir, embedded: true, log }),
    ).toEqual(key);
    await expect(stat(join(dataDir, 'encryption.key'))).rejects.toThrow();
  });

  it('rejects an environment key of the wrong length without echoing it', async () => {
    const { log } = recordingLog();
    const short = randomBytes(16).toString('base64');
    const error = await loadEncryptionKey({ keyFromEnv: short, embedded: false, log }).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/TRADECAST_ENCRYPTION_KEY must be 32 bytes.*got 16 bytes/);
    expect((error as Error).message).not.toContain(short);
  });

  it('requires TRADECAST_ENCRYPTION_KEY with PostgreSQL', async () => {
    const { log } = recordingLog();
    await expect(loadEncryptionKey({ dataDir, embedded: false, log })).rejects.toThrow(
      /TRADECAST_ENCRYPTION_KEY is required with PostgreSQL/,
    );
  });

  it('generates an embedded key file with mode 0600, logs where, and reuses it next time', async () => {
    const nested = join(dataDir, 'data');
    const first = recordingLog();
    const key = await loadEncryptionKey({ dataDir: nested, embedded: true, log: first.log });
    const path = join(nested, 'encryption.key');

    expect(key).toHaveLength(32);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(first.lines).toEqual([
      { level: 'info', obj: { path }, msg: expect.stringContaining('Generated a new encryption key') },
    ]);
    expect(first.lines[0]?.msg).not.toContain(key.toString('base64'));

    const second = recordingLog();
    expect(await loadEncryptionKey({ dataDir: nested, embedded: true, log: second.log })).toEqual(key);
    expect(second.lines).toEqual([]);
    expect((await readFile(path, 'utf8')).trim()).toBe(key.toString('base64'));
  });

  it('warns when an existing key file is readable by others', async () => {
    const path = join(dataDir, 'encryption.key');
    await writeFile(path, randomBytes(32).toString('hex'), { mode: 0o644 });
    const { log, lines } = recordingLog();
    await loadEncryptionKey({ dataDir, embedded: true, log });
    expect(lines.map((l) => l.level)).toEqual(['warn']);
  });

  it('refuses a malformed key file', async () => {
    await writeFile(join(dataDir, 'encryption.key'), 'too short', { mode: 0o600 });
    const { log } = recordingLog();
    await expect(loadEncryptionKey({ dataDir, embedded: true, log })).rejects.toThrow(/must be 32 bytes/);
  });
});
