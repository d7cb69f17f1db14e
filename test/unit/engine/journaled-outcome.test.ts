/** An account's outcome told by its journal rows, for accounts a stopped process had finished. */
import { describe, expect, it } from 'vitest';
import type { JournalEntry, OrderLeg, OrderState } from '../../../src/domain/orders.js';
import { journaledOutcome } from '../../../src/engine/summary.js';

const account = { id: '7', name: 'Acct 7' };
let next = 0;
const row = (leg: OrderLeg, seq: number, state: OrderState, reason: string | null = null): JournalEntry => ({
  id: String(++next),
  signalId: '1',
  accountId: '7',
  clientOrderId: `tc.1.7.${leg}${seq}`,
  leg,
  seq,
  state,
  plan: { contract: 'MNQZ6', side: leg === 'entry' ? 'buy' : null, quantity: 2 },
  brokerOrderIds: state === 'acked' ? [`${seq}00`] : [],
  reason,
  createdAt: new Date(),
  updatedAt: new Date(),
});

describe('an outcome from journal rows', () => {
  it('an acked market entry is filled at its quantity; a limit one is working', () => {
    expect(journaledOutcome(account, [row('entry', 0, 'acked')], 'market')).toMatchObject({
      kind: 'filled',
      quantity: 2,
      contract: 'MNQZ6',
      brokerOrderIds: ['000'],
    });
    expect(journaledOutcome(account, [row('entry', 0, 'acked')], 'limit')).toMatchObject({ kind: 'working' });
  });

  it('a skipped or refused entry gives its reason; a later order refused makes the account rejected', () => {
    expect(
      journaledOutcome(account, [row('entry', 0, 'skipped', 'max_position: 3 would exceed 2')], 'market'),
    ).toMatchObject({ kind: 'skipped', quantity: 0, reason: 'max_position: 3 would exceed 2' });
    const refused = [
      row('entry', 0, 'acked'),
      row('take_profit', 1, 'rejected', 'InvalidPrice: above market'),
    ];
    expect(journaledOutcome(account, refused, 'market')).toMatchObject({
      kind: 'rejected',
      reason: 'InvalidPrice: above market',
    });
  });

  it('a row left open makes it unknown', () => {
    expect(
      journaledOutcome(
        account,
        [row('entry', 0, 'acked'), row('take_profit', 1, 'unknown', 'Timeout: no answer')],
        'market',
      ),
    ).toMatchObject({ kind: 'unknown', reason: 'Timeout: no answer' });
    expect(journaledOutcome(account, [row('entry', 0, 'planned')], 'market')).toMatchObject({
      kind: 'unknown',
      reason: 'planned: not settled after the restart',
    });
  });

  it('a flatten is flat, unknown when its row was closed so, and rows closed as not needed say nothing', () => {
    const leftover = row(
      'liquidate',
      3,
      'rejected',
      'not_at_broker: not sent before the restart; no longer needed',
    );
    expect(
      journaledOutcome(account, [row('flatten', 0, 'acked'), row('cancel', 1, 'acked'), leftover], 'market'),
    ).toMatchObject({ kind: 'flat', quantity: 0 });
    expect(
      journaledOutcome(account, [row('flatten', 0, 'rejected', 'unknown: Timeout: no answer')], 'market'),
    ).toMatchObject({ kind: 'unknown', reason: 'Timeout: no answer' });
    expect(
      journaledOutcome(
        account,
        [row('flatten', 0, 'rejected', 'Disconnected: could not read orders')],
        'market',
      ),
    ).toMatchObject({ kind: 'rejected', reason: 'Disconnected: could not read orders' });
  });
});
