/**
 * The engine over the Tradovate adapter and the simulator at 1,000 accounts: entries with brackets,
 * adding to positions, reversing, flattening and risk gates, checked against the venue's own state.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CommandReply, FanoutSummary } from '../../../src/index.js';
import { startTradovateApp, type TradovateApp, venueState } from '../../helpers/tradovate-app.js';

const admin = { platform: 'discord' as const, userId: '1' };

function fanout(reply: CommandReply): FanoutSummary {
  if (reply.kind !== 'fanout')
    throw new Error(`expected a fan-out, got ${JSON.stringify(reply).slice(0, 400)}`);
  return reply.summary;
}

/** Working orders of an account on the venue, as [type, side, qty] sorted. */
function shape(t: TradovateApp, venueId: number) {
  return venueState(t.sim, venueId)
    .working.map((o) => [o.orderType, o.action, o.orderQty] as const)
    .sort();
}

describe('1,000 Tradovate accounts through the simulator', () => {
  let t: TradovateApp;
  beforeAll(async () => {
    t = await startTradovateApp({ driver: 'pglite', credentials: 250, accountsPerCredential: 4 });
    t.sim.setPrice('MNQ', 21500);
  }, 180_000);
  afterAll(async () => t?.stop());

  it('every account gets exactly one entry with its take-profit and stop, at the right quantity', async () => {
    const s = fanout(await t.app.commands.runText(admin, '/buy MNQ 1 tp=20 sl=10 account=all'));
    expect(s).toMatchObject({ accounts: 1000, filled: 1000, unknown: 0, rejected: [] });
    const placements =
      t.sim.requests.count({ endpoint: 'orderstrategy/startorderstrategy' }) +
      t.sim.requests.count({ endpoint: 'order/placeoso' });
    expect(placements).toBe(1000);
    for (const [ours, venueId] of t.venueAccount) {
      const mine = t.sim.orders(venueId).filter((o) => o.clOrdId?.includes(`.${ours}.`));
      expect(mine.filter((o) => o.clOrdId?.endsWith('.e0'))).toHaveLength(1);
      expect(venueState(t.sim, venueId).net).toBe(1);
      expect(shape(t, venueId)).toEqual([
        ['Limit', 'Sell', 1],
        ['Stop', 'Sell', 1],
      ]);
    }
    expect(await t.app.stores.journal.listNonTerminal()).toEqual([]);
  }, 120_000);

  it('adding to the positions leaves one take-profit and one stop per account, sized to the position', async () => {
    t.sim.setPrice('MNQ', 21510);
    const s = fanout(await t.app.commands.runText(admin, '/buy MNQ 1 tp=20 sl=10 account=all'));
    expect(s).toMatchObject({ filled: 1000, unknown: 0 });
    for (const venueId of t.venueAccount.values()) {
      expect(venueState(t.sim, venueId).net).toBe(2);
      expect(shape(t, venueId)).toEqual([
        ['Limit', 'Sell', 2],
        ['Stop', 'Sell', 2],
      ]);
    }
  }, 120_000);

  it('a reverse signal never leaves two positions: close, then open', async () => {
    const s = fanout(await t.app.commands.runText(admin, '/sell MNQ 1 tp=20 sl=10 account=all'));
    expect(s).toMatchObject({ filled: 1000, unknown: 0 });
    for (const venueId of t.venueAccount.values()) {
      const open = t.sim.positions(venueId).filter((p) => p.netPos !== 0);
      expect(open).toHaveLength(1);
      expect(open[0]!.netPos).toBe(-1);
      expect(shape(t, venueId)).toEqual([
        ['Limit', 'Buy', 1],
        ['Stop', 'Buy', 1],
      ]);
    }
  }, 120_000);

  it('risk gates skip with reasons', async () => {
    const [first, second] = t.accountIds;
    await t.app.stores.accounts.update(first!, { enabled: false });
    await t.app.stores.accounts.update(second!, { maxPosition: 1 });
    const s = fanout(await t.app.commands.runText(admin, '/sell MNQ 1 account=all'));
    const byId = new Map(s.outcomes.map((o) => [o.accountId, o]));
    expect(byId.get(first!)).toMatchObject({ kind: 'skipped', reason: expect.stringMatching(/^disabled/) });
    expect(byId.get(second!)).toMatchObject({
      kind: 'skipped',
      reason: expect.stringMatching(/^max_position/),
    });
    expect(s.filled).toBe(998);
    expect(venueState(t.sim, t.venueAccount.get(second!)!).net).toBe(-1);
    await t.app.stores.accounts.update(first!, { enabled: true });
  }, 120_000);

  it('flatten leaves every account flat with nothing working', async () => {
    const reply = await t.app.commands.runText(admin, '/flatten all account=all');
    const token = reply.kind === 'confirm' ? reply.token : null;
    const s = fanout(token ? await t.app.commands.confirm(admin, token) : reply);
    expect(s).toMatchObject({ flat: 1000, unknown: 0 });
    for (const venueId of t.venueAccount.values()) {
      expect(venueState(t.sim, venueId)).toEqual({ net: 0, working: [] });
    }
    expect((await t.app.stores.journal.listNonTerminal()).map((r) => [r.leg, r.state, r.reason])).toEqual([]);
  }, 120_000);
});
