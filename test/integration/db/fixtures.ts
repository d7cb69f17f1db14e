/** Shared set-up for the storage tests. */
import { randomBytes } from 'node:crypto';
import { createRepositories, type Db, type Repositories, SecretBox } from '../../../src/db/index.js';
import type { Signal } from '../../../src/domain/types.js';

export function repositories(db: Db): Repositories {
  return createRepositories({ db, secretBox: new SecretBox(randomBytes(32)) });
}

export const marketBuy: Signal = {
  action: 'buy',
  symbol: 'MNQ',
  quantity: 2,
  entry: { type: 'market' },
  takeProfit: { kind: 'points', value: 20 },
  stopLoss: { kind: 'points', value: 10 },
  target: {},
};

/** A trader with one paper credential. */
export async function traderWithCredential(repos: Repositories, name = 'trader') {
  const user = await repos.users.create({ displayName: name, roles: ['trader'] });
  const credential = await repos.credentials.create({
    ownerUserId: user.id,
    broker: 'paper',
    environment: 'paper',
    kind: 'api_key',
    label: `${name} paper`,
    secret: { password: 'pw' },
  });
  return { user, credential };
}
