import { TradovateBroker } from '../../src/brokers/tradovate/index.js';
import { ManualClock, startSimulator } from '../fakes/tradovate/server.js';
import { linkViaOAuth, makeUser, START } from '../integration/tradovate/harness.js';
import { MemoryCredentialStore, MemoryLogger } from '../unit/tradovate/fake-venue.js';
import { describeBrokerContract } from './broker.contract.js';

describeBrokerContract('tradovate (simulator)', async () => {
  // A fixed clock keeps the front month (MNQH6) the same on every run, for the venue and the adapter.
  const clock = new ManualClock(START);
  const alice = makeUser(1, 2);
  const bob = makeUser(2, 1);
  const sim = await startSimulator({ users: [alice, bob], clock });
  const store = new MemoryCredentialStore();
  for (const user of [alice, bob]) store.secrets.set(user.name, await linkViaOAuth(sim, user.name));
  const broker = new TradovateBroker({
    restUrl: sim.restUrl,
    wsUrl: sim.wsUrl,
    credentials: store,
    log: new MemoryLogger(),
    clock: { now: () => clock.now(), sleep: async (ms) => clock.advance(ms) },
    // The suite polls; the simulator's own per-user limit (5,000/s) is the real bound here.
    limits: { perSecond: 500, perMinute: 20_000, perHour: 100_000 },
  });
  return {
    broker,
    credentialId: alice.name,
    accounts: alice.accounts.map((a) => ({ credentialId: alice.name, brokerAccountId: String(a.id) })),
    foreign: { credentialId: bob.name, brokerAccountId: String(bob.accounts[0]!.id) },
    setPrice: async (root, price) => sim.setPrice(root, price),
    teardown: async () => {
      await broker.close();
      await sim.close();
    },
  };
});
