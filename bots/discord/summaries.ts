/**
 * Recent fan-out summaries, kept in memory so the Details button can show them account by account.
 * Bounded by entries and by the accounts they hold (one summary of 10,000 accounts weighs as much as
 * hundreds of small ones); the oldest go first. After a restart the button says the details are gone.
 */
import type { FanoutSummary } from '../../src/index.js';

export interface KeptSummary {
  readonly summary: FanoutSummary;
  /** The Discord user who ran the command or posted the signal: the only one shown the details. */
  readonly ownerId: string;
}

export class RecentSummaries {
  private readonly entries = new Map<string, KeptSummary>();
  private outcomes = 0;

  constructor(
    private readonly maxEntries = 200,
    private readonly maxOutcomes = 200_000,
  ) {}

  remember(summary: FanoutSummary, ownerId: string): void {
    this.forget(summary.signalId);
    this.entries.set(summary.signalId, { summary, ownerId });
    this.outcomes += summary.outcomes.length;
    for (const [id] of this.entries) {
      if (this.entries.size <= this.maxEntries && this.outcomes <= this.maxOutcomes) break;
      if (id === summary.signalId) break;
      this.forget(id);
    }
  }

  get(signalId: string): KeptSummary | null {
    return this.entries.get(signalId) ?? null;
  }

  get size(): number {
    return this.entries.size;
  }

  private forget(signalId: string): void {
    const kept = this.entries.get(signalId);
    if (!kept) return;
    this.entries.delete(signalId);
    this.outcomes -= kept.summary.outcomes.length;
  }
}
