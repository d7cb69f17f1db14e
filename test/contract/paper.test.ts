import { PaperBroker, PaperExchange } from '../../src/brokers/paper/index.js';
import { describeBrokerContract } from './broker.contract.js';

describeBrokerContract('paper', async () => {
  // A fixed clock keeps the front month (MNQH6) the same on every run.
  const exchange = new PaperExchange({ now: () => new Date('2026-01-15T15:00:00Z'), seed: 7 });
  exchange.addAccount({ id: '101', name: 'DEMO-A1', owner: 'alice' });
  exchange.addAccount({ id: '102', name: 'DEMO-A2', owner: 'alice' });
  exchange.addAccount({ id: '201', name: 'DEMO-B1', owner: 'bob' });
  const broker = new PaperBroker({ exchange, credentials: { 'cred-alice': 'alice', 'cred-bob': 'bob' } });
  return {
    broker,
    credentialId: 'cred-alice',
    accounts: [
      { credentialId: 'cred-alice', brokerAccountId: '101' },
      { credentialId: 'cred-alice', brokerAccountId: '102' },
    ],
    foreign: { credentialId: 'cred-bob', brokerAccountId: '201' },
    setPrice: async (root, price) => exchange.setPrice(root, price),
    teardown: () => broker.close(),
  };
});
