import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../src/config.js';

describe('configuration', () => {
  it('an empty environment gives the embedded defaults', () => {
    const c = loadConfig({});
    expect(c.DATABASE_URL).toBeUndefined();
    expect(c.DATA_DIR).toBe('./data');
    expect(c.BROKER).toBe('paper');
    expect(c.TRADOVATE_RATE_PER_MINUTE).toBe(80);
    expect(c.ADMIN_IDS).toEqual([]);
  });

  it('ADMIN_IDS is split into platform:id pairs', () => {
    expect(loadConfig({ ADMIN_IDS: 'discord:123, telegram:456' }).ADMIN_IDS).toEqual([
      'discord:123',
      'telegram:456',
    ]);
  });

  it('a bad config fails once, listing every problem', () => {
    let error: unknown;
    try {
      loadConfig({
        LOG_LEVEL: 'loud',
        HTTP_PORT: '99999',
        ADMIN_IDS: 'slack:1',
        DATABASE_URL: 'mysql://x',
        ENGINE_CONCURRENCY: '-3',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toHaveLength(5);
    expect(problems.join('\n')).toMatch(/LOG_LEVEL/);
    expect(problems.join('\n')).toMatch(/HTTP_PORT/);
    expect(problems.join('\n')).toMatch(/ADMIN_IDS.*discord:123/);
    expect(problems.join('\n')).toMatch(/DATABASE_URL: must be a postgres/);
    expect(problems.join('\n')).toMatch(/ENGINE_CONCURRENCY/);
    expect((error as Error).message.split('\n')[0]).toBe('Invalid configuration:');
  });

  it('cross-field rules are reported together', () => {
    expect(() =>
      loadConfig({
        DATABASE_URL: 'postgres://u@h/db',
        BROKER: 'tradovate',
        TELEGRAM_WEBHOOK_URL: 'https://x.example',
      }),
    ).toThrowError(/TRADOVATE_REST_URL[\s\S]*TELEGRAM_WEBHOOK_SECRET[\s\S]*TRADECAST_ENCRYPTION_KEY/);
  });

  it('a secret-looking value is never echoed in the error', () => {
    try {
      loadConfig({ DATABASE_URL: 'notaurl-with-password-hunter2' });
    } catch (e) {
      expect((e as Error).message).not.toContain('hunter2');
    }
  });
});
