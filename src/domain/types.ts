/** Transport-neutral vocabulary shared by every layer. Pure types only. */

export type Platform = 'discord' | 'telegram' | 'console' | 'webhook';
export const ROLES = ['admin', 'provider', 'trader', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

/**
 * How long a signal stays worth acting on, in ms. A chat message older than this when the service
 * gets to it (held by the platform while the service was down) is answered, not run; orders of an
 * interrupted fan-out older than this expire instead of being sent at restart.
 */
export const SIGNAL_FRESH_MS = 60_000;

export type Side = 'buy' | 'sell';

/** Who asked: the platform, the platform's user id and the chat it came from. */
export interface Principal {
  readonly platform: Platform;
  readonly userId: string;
  readonly chatId?: string;
  /** Display name for replies and audit; never used for authorization. */
  readonly displayName?: string;
  /** The chat's title, when it has one (groups and channels). */
  readonly chatTitle?: string;
}

/**
 * A take-profit or stop distance or level.
 * points: price points from the entry; ticks: exchange ticks from the entry; price: an absolute level;
 * percent: percent of the reference (signal) price from the entry.
 */
export type PriceSpec =
  | { readonly kind: 'points'; readonly value: number }
  | { readonly kind: 'ticks'; readonly value: number }
  | { readonly kind: 'price'; readonly value: number }
  | { readonly kind: 'percent'; readonly value: number };

export type SignalAction = 'buy' | 'sell' | 'flatten' | 'close';

export type EntrySpec = { readonly type: 'market' } | { readonly type: 'limit'; readonly price: number };

/** Optional narrowing of the target accounts: account names or ids, or a group name. */
export interface TargetFilter {
  readonly accounts?: readonly string[];
  readonly group?: string;
  /** Admin only: every enabled account of every user. */
  readonly all?: boolean;
}

export type SignalSource = 'command' | 'channel' | 'alert' | 'webhook';

/** One trading instruction, whatever transport it came from. */
export interface Signal {
  readonly action: SignalAction;
  /** Product root or contract as typed (`MNQ`, `MNQ1!`, `MNQZ6`); null means every symbol (flatten all). */
  readonly symbol: string | null;
  /** Contracts before per-account sizing; 0 for flatten and close. */
  readonly quantity: number;
  readonly entry: EntrySpec;
  readonly takeProfit?: PriceSpec;
  readonly stopLoss?: PriceSpec;
  /** Reference price (alert price), used for percent brackets and reporting. */
  readonly referencePrice?: number;
  readonly target: TargetFilter;
}

/** Signal plus where it came from and its idempotency key. */
export interface SignalEnvelope {
  readonly signal: Signal;
  readonly source: SignalSource;
  readonly principal: Principal;
  /** Discord interaction id, Telegram chat+message id, webhook alert id or a body hash. */
  readonly dedupKey: string;
  /**
   * Keys under which an earlier delivery of the same signal may have been recorded (a body hash in
   * the previous minute): if one exists, this delivery is a duplicate of it.
   */
  readonly priorDedupKeys?: readonly string[];
  /** The channel a provider broadcast in, when the source is `channel` or `alert`. */
  readonly channelId?: string;
  readonly receivedAt: Date;
  /**
   * When its sender sent it, by the platform's clock (a chat message's date), when known. A signal
   * sent more than {@link SIGNAL_FRESH_MS} before it reaches the engine (held while the service was
   * down) is not acted on.
   */
  readonly sentAt?: Date;
}

/** A brokerage account we trade, as the engine sees it. */
export interface Account {
  readonly id: string;
  readonly credentialId: string;
  readonly ownerUserId: string;
  /** The broker's own account id (Tradovate account id, paper account id). */
  readonly brokerAccountId: string;
  readonly name: string;
  readonly broker: BrokerName;
  readonly enabled: boolean;
  /** Contracts per signal contract. */
  readonly multiplier: number;
  /** Cap on one order's contracts; null for no cap. */
  readonly maxQuantity: number | null;
  /** Cap on the absolute net position in one contract; null for no cap. */
  readonly maxPosition: number | null;
  /** Signal root → account root, e.g. { NQ: 'MNQ' }. */
  readonly symbolMap: Readonly<Record<string, string>>;
  readonly group: string | null;
  /** Entries allowed only inside this window (exits always allowed); null for always. */
  readonly tradingWindow: TradingWindow | null;
}

/** Minutes after local midnight in the given IANA time zone; `end` may be less than `start` (overnight). */
export interface TradingWindow {
  readonly timeZone: string;
  readonly start: string; // "HH:MM"
  readonly end: string; // "HH:MM"
}

export type BrokerName = 'paper' | 'tradovate';

export type CredentialState = 'ok' | 'needs_reauth' | 'locked';
