/**
 * What the engine needs from storage, as interfaces. The repositories in `db/` satisfy them;
 * tests may pass in-memory versions.
 */
import type { JournalEntry, OrderLeg, OrderPlan, OrderState } from '../domain/orders.js';
import type { Principal, Signal, SignalSource } from '../domain/types.js';

export type SignalStatus = 'received' | 'executing' | 'done' | 'rejected' | 'failed';

/** Dedup keys of reconciliation cycles' signal records start with this. */
export const RECONCILE_DEDUP_PREFIX = 'reconcile:';

export interface SignalRecord {
  readonly id: string;
  readonly dedupKey: string;
  readonly source: SignalSource;
  readonly principal: Principal;
  readonly body: Signal;
  readonly status: SignalStatus;
  readonly summary: unknown;
  readonly createdAt: Date;
}

export interface SignalStore {
  insertIfNew(input: {
    dedupKey: string;
    source: SignalSource;
    principal: Principal;
    body: Signal;
    status?: 'received' | 'executing';
  }): Promise<{ signal: SignalRecord; created: boolean }>;
  setStatus(id: string, status: SignalStatus, summary?: unknown): Promise<unknown>;
  get(id: string): Promise<SignalRecord | null>;
  findByDedupKey(dedupKey: string): Promise<SignalRecord | null>;
  /**
   * The newest signals first, without their summaries: a 10,000-account summary runs to megabytes,
   * and scans that only need a signal's status and body must not read hundreds of them.
   */
  recentHeads(limit: number): Promise<SignalHead[]>;
}

/** A signal without its summary. */
export type SignalHead = Omit<SignalRecord, 'summary'>;

export interface NewJournalEntry {
  readonly signalId: string;
  readonly accountId: string;
  readonly clientOrderId: string;
  readonly leg: OrderLeg;
  readonly seq: number;
  readonly state: OrderState;
  readonly plan: OrderPlan;
  readonly reason?: string | null;
}

export interface JournalUpdate {
  readonly id: string;
  readonly state: OrderState;
  readonly brokerOrderIds?: readonly string[];
  readonly reason?: string | null;
}

export interface JournalStore {
  insertMany(entries: readonly NewJournalEntry[]): Promise<JournalEntry[]>;
  updateMany(updates: readonly JournalUpdate[]): Promise<unknown>;
  listBySignal(signalId: string): Promise<JournalEntry[]>;
  /** Whether the signal has any entry, without reading them. */
  hasEntries(signalId: string): Promise<boolean>;
  listNonTerminal(): Promise<JournalEntry[]>;
}

export interface SettingsStore {
  get<T>(key: string): Promise<T | null>;
  set(key: string, value: unknown): Promise<unknown>;
}

export const HALT_KEY = 'halt';
export interface HaltState {
  readonly halted: boolean;
  readonly reason: string | null;
  readonly by: string | null;
  readonly at: string | null;
}
