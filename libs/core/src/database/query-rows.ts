import type { EntityManager } from 'typeorm';

/**
 * Runs a statement and returns its rows. TypeORM's postgres driver answers UPDATE and DELETE
 * with `[rows, rowCount]` instead of the rows; this evens that out for `... RETURNING`.
 */
export async function queryRows<T>(em: EntityManager, sql: string, params: unknown[] = []): Promise<T[]> {
  const result = (await em.query(sql, params)) as unknown;
  if (
    Array.isArray(result) &&
    result.length === 2 &&
    Array.isArray(result[0]) &&
    typeof result[1] === 'number'
  ) {
    return result[0] as T[];
  }
  return result as T[];
}

/** Renders ids as a Postgres array literal; ids are decimal digits, so nothing needs quoting. */
export function bigintArray(ids: readonly string[]): string {
  return `{${ids.join(',')}}`;
}
