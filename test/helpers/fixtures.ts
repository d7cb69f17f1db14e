/** People and paper accounts for integration tests, created through the repositories. */
import type { App, Platform, Role } from '../../src/index.js';

export interface TestUser {
  readonly userId: string;
  readonly platform: Platform;
  readonly externalId: string;
  /** Our account ids, in creation order. */
  readonly accountIds: string[];
  /** Paper exchange account ids (what `app.exchange` knows them by). */
  readonly brokerAccountIds: string[];
}

let serial = 0;

/**
 * A user with a chat identity, roles, and `accounts` paper accounts on one credential of their own,
 * registered with the app's paper exchange.
 */
export async function addUser(
  app: App,
  input: {
    platform: Platform;
    externalId: string;
    roles: Role[];
    accounts?: number;
    multiplier?: number;
    name?: string;
  },
): Promise<TestUser> {
  const user = await app.stores.users.ensureIdentityUser(
    input.platform,
    input.externalId,
    input.name ?? `${input.platform}:${input.externalId}`,
    input.roles,
  );
  const accountIds: string[] = [];
  const brokerAccountIds: string[] = [];
  const n = input.accounts ?? 0;
  if (n > 0) {
    const credential = await app.stores.credentials.create({
      ownerUserId: user.id,
      broker: 'paper',
      environment: 'paper',
      kind: 'api_key',
      label: `paper ${input.externalId}`,
      secret: {},
    });
    for (let i = 1; i <= n; i++) {
      const brokerAccountId = `P${input.externalId}-${++serial}`;
      const account = await app.stores.accounts.create({
        credentialId: credential.id,
        ownerUserId: user.id,
        brokerAccountId,
        name: `${input.externalId}-${i}`,
        ...(input.multiplier !== undefined ? { multiplier: input.multiplier } : {}),
      });
      app.exchange.addAccount({ id: brokerAccountId, name: account.name, owner: credential.id });
      accountIds.push(account.id);
      brokerAccountIds.push(brokerAccountId);
    }
  }
  return {
    userId: user.id,
    platform: input.platform,
    externalId: input.externalId,
    accountIds,
    brokerAccountIds,
  };
}

/** Register a chat as a signal channel with its providers, and subscribe accounts to it. */
export async function addSignalChannel(
  app: App,
  input: { platform: Platform; chatId: string; providers: TestUser[]; subscribers: string[]; title?: string },
): Promise<string> {
  const channel = await app.stores.channels.register({
    platform: input.platform,
    chatId: input.chatId,
    role: 'signal',
    title: input.title ?? null,
  });
  for (const p of input.providers) {
    await app.stores.users.grantRole(p.userId, 'provider', null);
    await app.stores.channels.addProvider(channel.id, p.userId);
  }
  for (const accountId of input.subscribers) await app.stores.channels.subscribe(accountId, channel.id);
  return channel.id;
}

/** Net position per exchange account for a contract root (0 when flat). */
export function netPositions(app: App, brokerAccountIds: readonly string[]): number[] {
  return brokerAccountIds.map((id) =>
    app.exchange.positions(id).reduce((sum, p) => sum + (p.netQuantity ?? 0), 0),
  );
}
