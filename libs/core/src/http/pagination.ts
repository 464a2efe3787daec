import { ValidationError } from '../errors/app-error';
import { isSnowflake } from '../ids/ids';

export const DEFAULT_PAGE_LIMIT = 50;
export const MAX_PAGE_LIMIT = 100;

export interface PageQuery {
  before?: string;
  after?: string;
  limit: number;
}

type Cursor = 'before' | 'after';

/**
 * Parses keyset pagination query parameters: ids as cursors, `limit` 1-100 (default 50).
 * Unknown parameters, repeated ones, bad ids and out-of-range limits are 400s listing each field.
 */
export function parsePageQuery(query: Record<string, unknown>, cursors: readonly Cursor[]): PageQuery {
  const details: { field: string; message: string }[] = [];
  const page: PageQuery = { limit: DEFAULT_PAGE_LIMIT };
  for (const [key, value] of Object.entries(query ?? {})) {
    const allowed = key === 'limit' || (cursors as readonly string[]).includes(key);
    if (!allowed) {
      details.push({ field: key, message: `property ${key} should not exist` });
      continue;
    }
    if (typeof value !== 'string') {
      details.push({ field: key, message: `${key} must be given once` });
      continue;
    }
    if (key === 'limit') {
      if (!/^\d{1,4}$/.test(value) || Number(value) < 1 || Number(value) > MAX_PAGE_LIMIT) {
        details.push({ field: 'limit', message: `limit must be a whole number from 1 to ${MAX_PAGE_LIMIT}` });
      } else {
        page.limit = Number(value);
      }
    } else if (!isSnowflake(value)) {
      details.push({ field: key, message: `${key} must be an id` });
    } else {
      page[key as Cursor] = value;
    }
  }
  if (page.before !== undefined && page.after !== undefined) {
    details.push({ field: 'after', message: 'give either before or after, not both' });
  }
  if (details.length) throw new ValidationError(details);
  return page;
}
