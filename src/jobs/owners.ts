/**
 * Telling a user something privately in every chat they are linked from, as the composition root
 * does for credential state changes.
 */
import type { Platform } from '../domain/types.js';
import type { Destination, Notification, Notifier } from '../ports/notifier.js';

/** The identities of a user; `UsersRepository` satisfies it. */
export interface IdentityDirectory {
  listIdentities(
    userId: string,
  ): Promise<readonly { readonly platform: Platform; readonly externalId: string }[]>;
}

/** Chat platforms that can reach a person privately. */
const CHAT_PLATFORMS: ReadonlySet<Platform> = new Set(['discord', 'telegram']);

/**
 * Send one notification per chat identity of `userId` (Discord, Telegram); returns how many were
 * sent. Failures of a transport are the notifier's to report; this resolves once all were handed over.
 */
export async function notifyUser(
  users: IdentityDirectory,
  notifier: Notifier,
  userId: string,
  build: (to: Destination) => Notification,
): Promise<number> {
  const identities = await users.listIdentities(userId);
  let sent = 0;
  for (const identity of identities) {
    if (!CHAT_PLATFORMS.has(identity.platform)) continue;
    await notifier.notify(build({ platform: identity.platform, userId: identity.externalId }));
    sent++;
  }
  return sent;
}
