import { describe, expect, it } from 'vitest';
import { captureLog } from '../../helpers/log.js';

describe('log redaction', () => {
  it('tokens, secrets, passwords and keys are redacted at any depth', () => {
    const { log, text } = captureLog();
    log.info(
      {
        accessToken: 'tok-top-1',
        credential: { password: 'pw-nested-2', sec: 'sec-nested-3', apiKey: 'key-4' },
        response: { body: { access_token: 'tok-deep-5', refresh_token: 'ref-6', 'p-ticket': 'ticket-7' } },
        headers: { authorization: 'Bearer tok-8' },
        secret: 'plain-9',
      },
      'login',
    );
    const out = text();
    for (const s of [
      'tok-top-1',
      'pw-nested-2',
      'sec-nested-3',
      'key-4',
      'tok-deep-5',
      'ref-6',
      'ticket-7',
      'tok-8',
      'plain-9',
    ]) {
      expect(out).not.toContain(s);
    }
    expect(out).toContain('[redacted]');
  });

  it('ordinary fields stay readable', () => {
    const { log, text } = captureLog();
    log.info({ credentialId: '12', source: 'stored' }, 'token from stored OAuth token');
    expect(text()).toContain('"source":"stored"');
  });
});
