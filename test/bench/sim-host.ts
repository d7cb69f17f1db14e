/**
 * The Tradovate simulator in a process of its own, for the benchmark and the crash test: the
 * engine under test then does not share its event loop with the venue. Driven over IPC.
 *
 * argv: --credentials M --accounts N (total, spread evenly) --latency-ms L --per-minute X --seed S
 * IPC in:  { type: 'orders' } | { type: 'requests' } | { type: 'reset' } | { type: 'faults', faults }
 *          | { type: 'profile-start' } | { type: 'profile-stop' } | { type: 'stop' }
 * IPC out: { type: 'ready', restUrl, wsUrl, users } then one answer per request ({ type, id, ... });
 *          `profile-stop` answers with the process's CPU time since `profile-start` (`cpuMs`).
 */
import { parseArgs } from 'node:util';
import { type SimUserOption, startSimulator } from '../fakes/tradovate/server.js';
import { linkViaOAuth } from '../integration/tradovate/harness.js';
import { WindowProfiler } from './profile.js';

const { values } = parseArgs({
  options: {
    credentials: { type: 'string', default: '10' },
    accounts: { type: 'string', default: '40' },
    'latency-ms': { type: 'string', default: '0' },
    'per-minute': { type: 'string', default: '5000' },
    'per-second': { type: 'string', default: '5000' },
    'first-user': { type: 'string', default: '1' },
    seed: { type: 'string', default: '1' },
  },
});
const credentials = Number(values.credentials);
const accounts = Number(values.accounts);
const latencyMs = Number(values['latency-ms']);
const firstUser = Number(values['first-user']);

const users: SimUserOption[] = Array.from({ length: credentials }, (_, i) => {
  const index = firstUser + i;
  const userId = 100_000 + index;
  const n = Math.floor(accounts / credentials) + (i < accounts % credentials ? 1 : 0);
  return {
    name: `bench${index}`,
    password: `pw-${index}`,
    userId,
    cid: 8,
    sec: `sec-${index}`,
    appId: 'tradecast',
    accounts: Array.from({ length: n }, (_, k) => ({ id: userId * 100 + k + 1, name: `B${index}A${k + 1}` })),
  };
});

// Latency is switched on after linking, so set-up does not pay it. ±25% jitter from a seeded generator.
let latencyOn = false;
let state = Number(values.seed) >>> 0 || 1;
const jitter = () => {
  state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
  return (state / 2 ** 32 - 0.5) * 0.5;
};
const sim = await startSimulator({
  users,
  seed: Number(values.seed),
  // Each way: requests on their way in, answers and events on their way out, in order per socket.
  network: () => (latencyOn && latencyMs > 0 ? Math.max(0, latencyMs * (1 + jitter())) : 0),
  limits: {
    user: {
      perSecond: Number(values['per-second']),
      perMinute: Number(values['per-minute']),
      perHour: 1_000_000,
    },
    // Linking thousands of users from one address would trip the per-IP limits of the auth endpoints,
    // and the anonymous budget (100/s, 1,000/h per IP) that the OAuth code exchanges count against.
    endpointKey: 'user',
    anonymous: { perSecond: 1_000_000, perMinute: 1_000_000, perHour: 1_000_000 },
  },
  ws: { maxSocketsPerUser: 50 },
});

const linked: { name: string; userId: number; accounts: { id: number; name: string }[]; secret: object }[] =
  [];
// The authorize page approves `sim.oauth.user`; link one user at a time so each code is the right user's.
for (const user of users) {
  linked.push({
    name: user.name,
    userId: user.userId,
    accounts: [...user.accounts],
    secret: await linkViaOAuth(sim, user.name),
  });
}
sim.resetCounters();
latencyOn = true;

const profiler = new WindowProfiler(process.env.BENCH_PROFILE, 'simulator');
let windowCpu = process.cpuUsage();

process.send!({ type: 'ready', restUrl: sim.restUrl, wsUrl: sim.wsUrl, users: linked });

process.on('message', async (message: { type: string; id?: number; faults?: object }) => {
  const reply = (payload: object) => process.send!({ ...payload, type: message.type, id: message.id });
  switch (message.type) {
    case 'orders': {
      // One pass over the store. Asking `sim.orders()` account by account scans every order each
      // time: at 10,000 accounts that blocks the simulator for longer than the sockets' silence
      // limit, and every socket drops between repetitions.
      const newCommands = new Map<number, string | null>();
      for (const c of sim.store.all('command')) {
        if (c.commandType === 'New') newCommands.set(c.orderId, c.clOrdId ?? null);
      }
      const versions = new Map<number, { id: number; orderType: string; orderQty: number }>();
      for (const v of sim.store.all('orderVersion')) {
        const seen = versions.get(v.orderId);
        if (!seen || v.id > seen.id) versions.set(v.orderId, v);
      }
      const rows: {
        account: number;
        clOrdId: string | null;
        type: string;
        status: string;
        qty: number;
        parent: boolean;
      }[] = [];
      for (const o of sim.store.all('order')) {
        const v = versions.get(o.id);
        rows.push({
          account: o.accountId,
          clOrdId: newCommands.get(o.id) ?? null,
          type: v?.orderType ?? '',
          status: o.ordStatus,
          qty: v?.orderQty ?? 0,
          parent: o.parentId === undefined || o.parentId === null,
        });
      }
      reply({ rows });
      break;
    }
    case 'requests': {
      const byEndpoint: Record<string, number> = {};
      for (const r of sim.requests.entries) byEndpoint[r.endpoint] = (byEndpoint[r.endpoint] ?? 0) + 1;
      const socketsMax = Math.max(0, ...users.map((u) => sim.sockets(u.name)));
      reply({ byEndpoint, socketsMax, total: sim.requests.entries.length });
      break;
    }
    case 'reset':
      sim.resetCounters();
      reply({});
      break;
    case 'faults':
      Object.assign(sim.faults, message.faults);
      reply({});
      break;
    case 'profile-start':
      await profiler.start();
      windowCpu = process.cpuUsage();
      reply({});
      break;
    case 'profile-stop': {
      // CPU of the whole process (every thread: the collector's too) over the timed window.
      const used = process.cpuUsage(windowCpu);
      await profiler.stop();
      reply({ cpuMs: (used.user + used.system) / 1000 });
      break;
    }
    case 'stop':
      profiler.save();
      await sim.close();
      reply({});
      process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
