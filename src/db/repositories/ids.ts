/**
 * Ids are 64-bit integers in SQL and decimal strings everywhere else, so no layer ever rounds one
 * through a JS number.
 */

const DECIMAL_ID = /^[1-9][0-9]{0,18}$/;
const MAX_ID = 9_223_372_036_854_775_807n;

/** The SQL id for a string, or null when the string cannot be one (so lookups find nothing). */
export function parseId(id: string): bigint | null {
  if (!DECIMAL_ID.test(id)) return null;
  const value = BigInt(id);
  return value <= MAX_ID ? value : null;
}

/** Like {@link parseId}, for ids that come from our own records: a malformed one is a bug. */
export function requireId(id: string, what: string): bigint {
  const value = parseId(id);
  if (value === null) throw new Error(`Malformed ${what} id: ${JSON.stringify(id)}`);
  return value;
}

export const idString = (id: bigint): string => id.toString();

export const nullableIdString = (id: bigint | null): string | null => (id === null ? null : id.toString());
