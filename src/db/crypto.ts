/**
 * Encryption at rest for broker secrets: AES-256-GCM with a random 96-bit IV per message. The
 * authentication tag makes a tampered or wrong-key ciphertext fail to open instead of yielding garbage.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The slice of a pino logger this module uses. */
export interface KeyLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const VERSION = 'v1';
const KEY_FILE = 'encryption.key';
export const ENCRYPTION_KEY_ENV = 'TRADECAST_ENCRYPTION_KEY';

/** Seals and opens strings with one 32-byte key. */
export class SecretBox {
  readonly #key: Buffer;

  /** @throws when the key is not exactly 32 bytes. */
  constructor(key: Uint8Array) {
    if (key.length !== KEY_BYTES) {
      throw new Error(`The encryption key must be ${KEY_BYTES} bytes, got ${key.length}`);
    }
    this.#key = Buffer.from(key);
  }

  /** Encrypts `plaintext` into `v1:<iv b64>:<tag b64>:<ciphertext b64>`. */
  seal(plaintext: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [VERSION, iv.toString('base64'), tag.toString('base64'), ciphertext.toString('base64')].join(':');
  }

  /**
   * Decrypts what {@link seal} produced.
   *
   * @throws when the text is malformed, was sealed with another key, or was altered. That is a
   * configuration or integrity fault, not an expected outcome, so it is not returned as a value.
   */
  open(sealed: string): string {
    const parts = sealed.split(':');
    if (parts.length !== 4 || parts[0] !== VERSION) {
      throw new Error('Sealed secret is malformed or of an unknown version');
    }
    const iv = Buffer.from(parts[1]!, 'base64');
    const tag = Buffer.from(parts[2]!, 'base64');
    const ciphertext = Buffer.from(parts[3]!, 'base64');
    if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) {
      throw new Error('Sealed secret is malformed');
    }
    const decipher = createDecipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
    } catch {
      throw new Error('Sealed secret could not be opened: wrong encryption key or altered data');
    }
  }
}

export interface LoadEncryptionKeyOptions {
  /** The value of TRADECAST_ENCRYPTION_KEY: 32 bytes as base64 or hex. Wins over everything else. */
  readonly keyFromEnv?: string;
  /** The embedded data folder that holds `encryption.key`; undefined for an in-memory database. */
  readonly dataDir?: string;
  /** true for PGlite (embedded); false for PostgreSQL, where the key must come from the environment. */
  readonly embedded: boolean;
  readonly log: KeyLog;
}

/**
 * Finds the 32-byte key for {@link SecretBox}.
 *
 * - The environment key wins when set.
 * - Embedded: `<dataDir>/encryption.key` is read, or created (mode 0600) on first start, so the demo
 *   runs with no setup. With no data folder (in-memory database) a throwaway key is used: the
 *   secrets it protects disappear with the database anyway.
 * - PostgreSQL without an environment key throws: a key kept beside one instance would strand the
 *   shared database's secrets when that instance is replaced.
 *
 * @throws when the environment key is malformed, the key file is malformed, or no key is available.
 */
export async function loadEncryptionKey(options: LoadEncryptionKeyOptions): Promise<Buffer> {
  const { keyFromEnv, dataDir, embedded, log } = options;
  if (keyFromEnv !== undefined && keyFromEnv.trim() !== '') {
    return decodeKey(keyFromEnv, ENCRYPTION_KEY_ENV);
  }
  if (!embedded) {
    throw new Error(
      `${ENCRYPTION_KEY_ENV} is required with PostgreSQL (DATABASE_URL): set it to 32 random bytes as base64 ` +
        `or hex, e.g. the output of \`openssl rand -base64 32\`. Keep it safe: without it stored secrets cannot be read.`,
    );
  }
  if (dataDir === undefined) {
    log.info({}, 'Using a temporary encryption key for the in-memory database');
    return randomBytes(KEY_BYTES);
  }

  const path = join(dataDir, KEY_FILE);
  const existing = await readKeyFile(path, log);
  if (existing) return existing;

  await mkdir(dataDir, { recursive: true });
  const key = randomBytes(KEY_BYTES);
  try {
    // `wx` fails if another process created the file first; then its key is the one to use.
    await writeFile(path, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      const raced = await readKeyFile(path, log);
      if (raced) return raced;
    }
    throw error;
  }
  // The mode given at creation is narrowed by the umask only, but be explicit in case of odd umasks.
  await chmod(path, 0o600);
  log.info({ path }, 'Generated a new encryption key; back it up, stored secrets cannot be read without it');
  return key;
}

async function readKeyFile(path: string, log: KeyLog): Promise<Buffer | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  const { mode } = await stat(path);
  if ((mode & 0o077) !== 0) {
    log.warn(
      { path, mode: (mode & 0o777).toString(8) },
      'Encryption key file is readable by others; chmod 600 it',
    );
  }
  return decodeKey(text, path);
}

/** Accepts 64 hex digits or base64 (standard or URL-safe) of exactly 32 bytes. */
function decodeKey(text: string, source: string): Buffer {
  const value = text.trim();
  let key: Buffer | null = null;
  if (/^[0-9a-fA-F]{64}$/.test(value)) {
    key = Buffer.from(value, 'hex');
  } else if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(value)) {
    key = Buffer.from(value, 'base64');
  }
  if (!key || key.length !== KEY_BYTES) {
    const got = key ? `${key.length} bytes` : 'neither base64 nor hex';
    throw new Error(
      `The encryption key from ${source} must be ${KEY_BYTES} bytes as base64 (44 characters) or hex ` +
        `(64 characters); got ${got}`,
    );
  }
  return key;
}
