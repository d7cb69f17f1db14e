/**
 * The service in a child process for the crash test. `run` stores the accounts (first start only)
 * and executes one signal on all of them; `flatten` flattens them all; `recover` only starts the
 * service (start-up recovery settles what a killed run left) and reports the journal and the
 * stored summary of the flatten. Reads its set-up from argv[3] (JSON).
 */
import { readFileSync } from 'node:fs';
import { createApp, createLogger, loadConfig } from '../../src/index.js';

interface Setup {
  dataDir: string;
  restUrl: string;
  wsUrl: string;
  users: { name: string; secret: Record<string, unknown>; accounts: { id: number; name: string }[] }[];
}

const mode = process.argv[2];
const FLATTEN_KEY = 'crash-test-flatten';
const setup = JSON.parse(readFileSync(process.argv[3]!, 'utf8')) as Setup;
const config = loadConfig({
  DATA_DIR: setup.dataDir,
  DEMO: 'off',
  LOG_LEVEL: 'info',
  TRADOVATE_REST_URL: setup.restUrl,
  TRADOVATE_WS_URL: setup.wsUrl,
  TRADOVATE_RATE_PER_SECOND: '200',
  TRADOVATE_RATE_PER_MINUTE: '10000',
  CONFIRM_ABOVE_ACCOUNTS: '100000',
  ENGINE_CONCURRENCY: '16',
  TRADOVATE_REQUEST_TIMEOUT_MS: '2000',
});
const log = createLogger({ level: 'info', destination: process.stderr });
const app = await createApp({ config, log });

if (mode === 'run') {
  const admin = await app.stores.users.ensureIdentityUser('discord', '1', 'admin', ['admin']);
  for (const user of setup.users) {
    const credential = await app.stores.credentials.create({
      ownerUserId: admin.id,
      broker: 'tradovate',
      environment: 'demo',
      kind: 'oauth',
      label: user.name,
      secret: user.secret,
    });
    for (const a of user.accounts) {
      await app.stores.accounts.create({
        credentialId: credential.id,
        ownerUserId: admin.id,
        brokerAccountId: String(a.id),
        name: a.name,
      });
    }
  }
  process.stdout.write('READY\n');
  const reply = await app.commands.runText(
    { platform: 'discord', userId: '1' },
    '/buy MNQ 1 tp=20 sl=10 account=all',
    {
      dedupKey: 'crash-test-signal',
    },
  );
  process.stdout.write(`DONE ${reply.kind}\n`);
} else if (mode === 'flatten') {
  process.stdout.write('READY\n');
  const admin = { platform: 'discord' as const, userId: '1' };
  // Flattening every account asks first; the admin says yes.
  const asked = await app.commands.runText(admin, '/flatten all account=all');
  if (asked.kind !== 'confirm') throw new Error(`expected a confirmation, got ${asked.kind}`);
  const reply = await app.commands.confirm(admin, asked.token, { dedupKey: FLATTEN_KEY });
  process.stdout.write(`DONE ${reply.kind}\n`);
} else {
  const open = await app.stores.journal.listNonTerminal();
  const flatten = await app.stores.signals.findByDedupKey(FLATTEN_KEY);
  const summary = flatten?.summary as { accounts?: number; flat?: number } | null | undefined;
  process.stdout.write(
    `RECOVERED ${JSON.stringify({
      open: open.length,
      ...(flatten
        ? { flatten: { status: flatten.status, accounts: summary?.accounts, flat: summary?.flat } }
        : {}),
    })}\n`,
  );
}
await app.close();
process.exit(0);
