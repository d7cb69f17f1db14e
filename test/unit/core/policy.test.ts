import { describe, expect, it } from 'vitest';
import { checkBroadcast, checkCommand, checkTargetAll } from '../../../src/auth/policy.js';

describe('authorization policy', () => {
  it('an unknown user is denied everything but help', () => {
    expect(checkCommand(null, 'buy')?.code).toBe('unknown_user');
    expect(checkCommand(null, 'positions')?.code).toBe('unknown_user');
    expect(checkCommand(null, 'help')).toBeNull();
  });
  it('a user with no role is denied with no_role', () => {
    expect(checkCommand([], 'buy')?.code).toBe('no_role');
  });
  it('a viewer reads but may not trade', () => {
    expect(checkCommand(['viewer'], 'positions')).toBeNull();
    expect(checkCommand(['viewer'], 'buy')?.code).toBe('forbidden');
  });
  it('a trader trades but may not halt', () => {
    expect(checkCommand(['trader'], 'buy')).toBeNull();
    expect(checkCommand(['trader'], 'flatten')).toBeNull();
    expect(checkCommand(['trader'], 'halt')?.code).toBe('admin_only');
    expect(checkCommand(['trader'], 'role')?.code).toBe('admin_only');
  });
  it('an admin may do everything', () => {
    for (const c of ['buy', 'halt', 'resume', 'role', 'flatten'] as const)
      expect(checkCommand(['admin'], c)).toBeNull();
  });
  it('only admins target every account', () => {
    expect(checkTargetAll(['trader'])?.code).toBe('admin_only');
    expect(checkTargetAll(['admin'])).toBeNull();
  });
  it('a broadcast needs a provider registered for the channel', () => {
    expect(checkBroadcast(['provider'], true)).toBeNull();
    expect(checkBroadcast(['provider'], false)?.code).toBe('not_provider');
    expect(checkBroadcast(['trader'], true)?.code).toBe('not_provider');
    expect(checkBroadcast(null, true)?.code).toBe('unknown_user');
  });
});
