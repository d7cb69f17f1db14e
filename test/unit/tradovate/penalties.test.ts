import { describe, expect, it } from 'vitest';
import { penalized } from '../../../src/brokers/tradovate/penalties.js';

describe('penalized', () => {
  it('flags a 2xx answer whose body names a ticket or a captcha', () => {
    expect(
      penalized({ kind: 'response', status: 200, body: { 'p-ticket': 'tk', 'p-time': 3 }, text: '' }),
    ).toBe(true);
    expect(penalized({ kind: 'response', status: 200, body: { 'p-captcha': true }, text: '' })).toBe(true);
  });

  it('passes ordinary answers, errors and failures without a second look', () => {
    expect(penalized({ kind: 'response', status: 200, body: { orderId: 42 }, text: '' })).toBe(false);
    expect(penalized({ kind: 'response', status: 200, body: [{ 'p-ticket': 'tk' }], text: '' })).toBe(false);
    expect(penalized({ kind: 'response', status: 200, body: null, text: '' })).toBe(false);
    expect(penalized({ kind: 'response', status: 500, body: { 'p-ticket': 'tk' }, text: '' })).toBe(false);
    expect(penalized({ kind: 'failed', failure: 'timeout', sent: true })).toBe(false);
  });
});
