/** The parsed form of a chat or console command; the grammar that produces it lives in `grammar.ts`. */
import type { Role, Signal, TargetFilter } from './types.js';

export type ParsedCommand =
  | { readonly name: 'buy' | 'sell' | 'flatten' | 'close'; readonly signal: Signal }
  | { readonly name: 'positions'; readonly target: TargetFilter }
  | { readonly name: 'accounts' }
  | { readonly name: 'status' }
  | { readonly name: 'halt'; readonly reason: string | null }
  | { readonly name: 'resume' }
  | { readonly name: 'help'; readonly topic: string | null }
  /** Link a Tradovate login through OAuth: replies with a short-lived link. */
  | { readonly name: 'link' }
  /** Sign in to the web dashboard: replies with a one-time link. */
  | { readonly name: 'dashboard' }
  | { readonly name: 'subscribe' | 'unsubscribe'; readonly account: string; readonly channel: string | null }
  | { readonly name: 'role'; readonly user: string; readonly role: Role; readonly revoke: boolean }
  /** Register the current chat as a signal or report channel (admin). */
  | { readonly name: 'channel'; readonly role: 'signal' | 'report' }
  /** Add or remove a signal provider of the current chat (admin). */
  | { readonly name: 'provider'; readonly user: string; readonly remove: boolean };

export type CommandName = ParsedCommand['name'];

/** A usage error: what was wrong, and the usage line of the command. */
export interface UsageError {
  readonly code: 'usage' | 'unknown_command' | 'unknown_symbol';
  readonly message: string;
  readonly usage: string | null;
}
