/** What the command layer returns: plain data that each transport renders in its own way. */
import type { Denial } from '../auth/policy.js';
import type { UsageError } from '../domain/commands.js';
import type { HaltState } from '../engine/stores.js';
import type { FanoutSummary } from '../engine/summary.js';

export interface PositionRow {
  readonly accountId: string;
  readonly accountName: string;
  readonly contract: string;
  /** Signed contracts: positive long, negative short. */
  readonly netQuantity: number;
  readonly averagePrice: number;
  /** Working orders of this account in this contract. */
  readonly workingOrders: number;
}

export interface AccountRow {
  readonly id: string;
  readonly name: string;
  readonly broker: string;
  readonly enabled: boolean;
  readonly multiplier: number;
  readonly maxQuantity: number | null;
  readonly group: string | null;
  readonly symbolMap: Readonly<Record<string, string>>;
}

export interface CredentialRow {
  readonly id: string;
  readonly label: string;
  readonly broker: string;
  readonly state: string;
  readonly tokenExpiresAt: Date | null;
  readonly tokenSource: string | null;
}

export type CommandReply =
  | { readonly kind: 'usage'; readonly error: UsageError }
  | { readonly kind: 'denied'; readonly denial: Denial }
  | { readonly kind: 'error'; readonly code: string; readonly message: string }
  | {
      readonly kind: 'confirm';
      /** Pass back with {@link CommandContext.confirmToken} to run it. */
      readonly token: string;
      readonly prompt: string;
      readonly accounts: number;
      readonly expiresAt: Date;
    }
  | { readonly kind: 'fanout'; readonly summary: FanoutSummary; readonly duplicate: boolean }
  | {
      readonly kind: 'positions';
      readonly rows: readonly PositionRow[];
      readonly accounts: number;
      readonly failures: readonly { readonly accountName: string; readonly reason: string }[];
    }
  | { readonly kind: 'accounts'; readonly rows: readonly AccountRow[] }
  | {
      readonly kind: 'status';
      readonly halt: HaltState;
      readonly accounts: number;
      readonly enabledAccounts: number;
      readonly credentials: readonly CredentialRow[];
      readonly brokers: readonly string[];
    }
  | { readonly kind: 'halt'; readonly state: HaltState }
  | { readonly kind: 'help'; readonly text: string }
  | { readonly kind: 'ok'; readonly message: string };
