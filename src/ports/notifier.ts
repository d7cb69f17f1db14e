/**
 * How the service talks back to chat without knowing any chat platform. The transports in `bots/`
 * implement it; `main.ts` hands a composite of them to `createApp`.
 */
import type { Platform } from '../domain/types.js';
import type { FanoutProgress, FanoutSummary } from '../engine/summary.js';

/**
 * Where a notification goes: a chat (channel, group) by its id, or a person privately by their
 * platform user id (the transport opens the private chat).
 */
export type Destination =
  | { readonly platform: Platform; readonly chatId: string }
  | { readonly platform: Platform; readonly userId: string };

export type Notification =
  | { readonly type: 'fanout_progress'; readonly to: Destination; readonly progress: FanoutProgress }
  | { readonly type: 'fanout_summary'; readonly to: Destination; readonly summary: FanoutSummary }
  | {
      readonly type: 'credential_state';
      readonly to: Destination;
      readonly credentialLabel: string;
      readonly state: 'ok' | 'needs_reauth' | 'locked';
      readonly reason: string;
      /** What the owner can do about it, e.g. "run /link to authorize again". */
      readonly hint: string;
    }
  | { readonly type: 'text'; readonly to: Destination; readonly text: string };

export interface Notifier {
  /** Deliver one notification; transports ignore destinations on other platforms. */
  notify(notification: Notification): Promise<void>;
}

/** A notifier that fans out to several transports; one failing transport does not stop the others. */
export class CompositeNotifier implements Notifier {
  constructor(
    private readonly notifiers: Notifier[],
    private readonly onError: (error: unknown) => void,
  ) {}

  add(notifier: Notifier): void {
    this.notifiers.push(notifier);
  }

  async notify(notification: Notification): Promise<void> {
    await Promise.all(
      this.notifiers.map(async (n) => {
        try {
          await n.notify(notification);
        } catch (error) {
          this.onError(error);
        }
      }),
    );
  }
}

/** The identities of a user; `UsersRepository` satisfies it. */
export interface IdentityDirectory {
  listIdentities(
    userId: string,
  ): Promise<readonly { readonly platform: Platform; readonly externalId: string }[]>;
}

/** Chat platforms that can reach a person privately. */
const CHAT_PLATFORMS: ReadonlySet<Platform> = new Set(['discord', 'telegram']);

/** Where a user can be told something privately: each of their Discord and Telegram identities. */
export async function privateDestinations(users: IdentityDirectory, userId: string): Promise<Destination[]> {
  const identities = await users.listIdentities(userId);
  return identities
    .filter((i) => CHAT_PLATFORMS.has(i.platform))
    .map((i) => ({ platform: i.platform, userId: i.externalId }));
}

/**
 * Send one notification per chat identity of `userId`; returns how many were sent. Failures of a
 * transport are the notifier's to report; this resolves once all were handed over.
 */
export async function notifyUser(
  users: IdentityDirectory,
  notifier: Notifier,
  userId: string,
  build: (to: Destination) => Notification,
): Promise<number> {
  const destinations = await privateDestinations(users, userId);
  for (const to of destinations) await notifier.notify(build(to));
  return destinations.length;
}
