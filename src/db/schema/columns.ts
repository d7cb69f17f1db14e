/** Column helpers shared by the table files. Not exported from the schema index: they are not tables. */
import { type SQL, sql } from 'drizzle-orm';
import { bigint, type PgColumn, timestamp } from 'drizzle-orm/pg-core';

/**
 * Surrogate key: a 64-bit identity. Read as a JS `bigint` so no id is ever rounded; repositories
 * turn it into a decimal string before it leaves `db/`.
 */
export const idColumn = () => bigint('id', { mode: 'bigint' }).primaryKey().generatedAlwaysAsIdentity();

/** A reference to another table's identity key. */
export const refColumn = (name: string) => bigint(name, { mode: 'bigint' });

/** A point in time, stored as `timestamptz` (UTC instant), read as a `Date`. */
export const instant = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/**
 * `column IN ('a', 'b', ...)` for a CHECK constraint. The values are inlined as literals because DDL
 * takes no parameters; they come from constants in code, never from input.
 */
export function oneOf(column: PgColumn, values: readonly string[]): SQL {
  const literals = values.map((v) => `'${v.replaceAll("'", "''")}'`).join(', ');
  return sql`${column} in (${sql.raw(literals)})`;
}
