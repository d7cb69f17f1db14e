/**
 * Authorization rules: pure checks that return a denial with a stable code, or nothing.
 * Deny by default: a command not listed for any of the caller's roles is refused.
 */
import type { CommandName } from '../domain/commands.js';
import type { Role } from '../domain/types.js';

export type DenialCode =
  | 'unknown_user'
  | 'no_role'
  | 'forbidden'
  | 'admin_only'
  | 'not_provider'
  | 'not_owner';

export interface Denial {
  readonly code: DenialCode;
  readonly message: string;
}

/** What each role may run. Admin may run everything. */
const ALLOWED: Readonly<Record<Exclude<Role, 'admin'>, ReadonlySet<CommandName>>> = {
  viewer: new Set(['positions', 'accounts', 'status', 'help', 'dashboard']),
  trader: new Set([
    'buy',
    'sell',
    'flatten',
    'close',
    'positions',
    'accounts',
    'status',
    'help',
    'link',
    'subscribe',
    'unsubscribe',
    'dashboard',
  ]),
  provider: new Set(['positions', 'accounts', 'status', 'help', 'link', 'dashboard']),
};

const ADMIN_ONLY: ReadonlySet<CommandName> = new Set(['halt', 'resume', 'role', 'channel', 'provider']);

/** Commands anyone may run, even without an account with us. */
const PUBLIC: ReadonlySet<CommandName> = new Set(['help']);

export function checkCommand(roles: readonly Role[] | null, command: CommandName): Denial | null {
  if (PUBLIC.has(command)) return null;
  if (roles === null) {
    return {
      code: 'unknown_user',
      message: 'You are not registered with this service. Ask an admin to grant you a role.',
    };
  }
  if (roles.length === 0) {
    return { code: 'no_role', message: 'You have no role here yet. Ask an admin to grant you one.' };
  }
  if (roles.includes('admin')) return null;
  if (ADMIN_ONLY.has(command)) return { code: 'admin_only', message: `/${command} is for admins only.` };
  for (const role of roles) {
    if (role !== 'admin' && ALLOWED[role].has(command)) return null;
  }
  const held = roles.join(', ');
  return { code: 'forbidden', message: `Your role (${held}) does not allow /${command}.` };
}

/** Targeting every account of every user is an admin power. */
export function checkTargetAll(roles: readonly Role[]): Denial | null {
  return roles.includes('admin')
    ? null
    : { code: 'admin_only', message: 'Only admins may target every account.' };
}

/** A channel signal runs only for providers registered for that channel (admins included). */
export function checkBroadcast(roles: readonly Role[] | null, isChannelProvider: boolean): Denial | null {
  if (roles === null) return { code: 'unknown_user', message: 'You are not registered with this service.' };
  if (isChannelProvider && (roles.includes('provider') || roles.includes('admin'))) return null;
  return { code: 'not_provider', message: 'You are not a registered signal provider for this channel.' };
}
