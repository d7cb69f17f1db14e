/**
 * `npm run sim -- --port 8088`: a local Tradovate for trying the service or a client by hand.
 * Prints the base URLs and the demo user's login, and runs until Ctrl-C.
 *
 * Flags: `--port N` (default 0, a free port), `--oauth-user NAME` (approve the authorize page
 * without a form), `--token-minutes N`, `--seed N`.
 */
import { parseArgs } from 'node:util';
import { DEMO_OAUTH_CLIENT, DEMO_USER, startSimulator } from './server.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'oauth-user': { type: 'string' },
    'token-minutes': { type: 'string' },
    seed: { type: 'string', default: '1' },
  },
});

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  console.error(`--port must be a port number, got ${values.port}`);
  process.exit(2);
}
const tokenMinutes = values['token-minutes'] === undefined ? undefined : Number(values['token-minutes']);

const sim = await startSimulator({
  port,
  seed: Number(values.seed),
  oauthUser: values['oauth-user'] ?? null,
  ...(tokenMinutes === undefined ? {} : { tokenLifetimeMs: tokenMinutes * 60_000 }),
});

console.log(`Tradovate simulator
  REST        ${sim.restUrl}
  WebSocket   ${sim.wsUrl}   (market data too)
  OAuth page  ${sim.oauthAuthorizeUrl}
  OAuth token ${sim.restUrl}/auth/oauthtoken   client_id=${DEMO_OAUTH_CLIENT.clientId} client_secret=${DEMO_OAUTH_CLIENT.clientSecret}
              redirect_uri=${DEMO_OAUTH_CLIENT.redirectUris.join(', ')}

Demo login (auth/accesstokenrequest)
  name=${DEMO_USER.name} password=${DEMO_USER.password} cid=${DEMO_USER.cid} sec=${DEMO_USER.sec} appId=${DEMO_USER.appId}
  accounts: ${DEMO_USER.accounts.map((a) => `${a.name} (${a.id})`).join(', ')}

Ctrl-C stops it.`);

let stopping = false;
process.on('SIGINT', () => {
  if (stopping) process.exit(1);
  stopping = true;
  sim.close().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
});
