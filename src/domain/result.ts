/**
 * Expected failures are values, not exceptions: a function that can fail for a reason the caller
 * must handle returns a `Result`. Throw only for bugs and broken invariants.
 */
export type Result<T, E> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: E };

export const ok = <T>(value: T): Result<T, never> => ({ ok: true, value });
export const err = <E>(error: E): Result<never, E> => ({ ok: false, error });

/** A failure a person can act on: a stable code for machines, a sentence for people. */
export interface Problem {
  readonly code: string;
  readonly message: string;
}
