/** Small shared vocabulary of the Tradovate adapter: logger, clock, priorities, credential storage. */

/** The subset of a pino logger the adapter uses. Objects come first, the message second. */
export interface Logger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/**
 * Time as the adapter sees it. Token expiry and penalty waits go through it so tests can move
 * time or shorten waits; rate windows keep wall-clock time because their store does.
 */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** `order` (placement and exits) goes ahead of `query`, which goes ahead of `background`. */
export type Priority = 'order' | 'query' | 'background';

/** What the credential store keeps for one Tradovate user. Every field is secret at rest. */
export interface TradovateSecret {
  readonly accessToken?: string;
  /** ISO date-time of the access token's expiry, as Tradovate returned it. */
  readonly expiresAt?: string;
  /** OAuth refresh token, when the credential was linked through OAuth and the venue issued one. */
  readonly refreshToken?: string;
  /** API-access login fields, used only as a last resort. */
  readonly name?: string;
  readonly password?: string;
  readonly appId?: string;
  readonly appVersion?: string;
  readonly cid?: string | number;
  readonly sec?: string;
  readonly deviceId?: string;
  readonly userId?: number;
}

/** Where a token came from; `refreshed` is the OAuth refresh-token grant. */
export type TokenSource = 'cache' | 'stored' | 'renewed' | 'refreshed' | 'login';

/** Persistence of credential secrets; the composition root wires it to the database. */
export interface CredentialStore {
  /** The credential's secret; rejects only for storage failures (an unknown id yields `{}`). */
  read(credentialId: string): Promise<TradovateSecret>;
  /** Persist a new token (and whatever else changed) after a renewal, refresh or login. */
  write(
    credentialId: string,
    secret: TradovateSecret,
    meta: { readonly tokenExpiresAt: Date; readonly tokenSource: Exclude<TokenSource, 'cache' | 'stored'> },
  ): Promise<void>;
}

/** A credential's standing with the venue, reported to `onCredentialState`. */
export type TradovateCredentialState = 'ok' | 'needs_reauth' | 'locked';
