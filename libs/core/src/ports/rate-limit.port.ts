import type { Request, Response } from 'express';
import type { AppError } from '../errors/app-error';

/**
 * Counts the /api/v1 requests that never reach a route's guard against the client IP's anonymous
 * bucket: bodies refused before routing (400 `invalid_json`, 413, 415, bad Unicode), paths that do
 * not decode or match no route, documents served outside Nest. Provided by libs/ratelimit; the
 * HTTP layer in core calls it without knowing how buckets are kept.
 */
export interface EdgeRateLimit {
  /**
   * Counts the request (once: a request a guard already counted is left alone), sets its
   * `RateLimit-*` headers, and resolves to the 429 to answer instead when the IP is over its
   * budget. Never rejects; resolves undefined for paths outside /api/v1.
   */
  countUnrouted(req: Request, res: Response): Promise<AppError | undefined>;
}

export const EDGE_RATE_LIMIT = Symbol('EDGE_RATE_LIMIT');

/**
 * Lower-cased path of a request with runs of slashes collapsed: what the router matches (with the
 * mount path of a middleware mounted on one put back in front).
 */
export function routedPath(req: Request): string {
  return `${req.baseUrl ?? ''}${req.path || '/'}`.toLowerCase().replace(/\/{2,}/g, '/');
}

/** Whether a request falls under the rate-limited REST API (`/api/v1`, any spelling). */
export function isApiRequest(req: Request): boolean {
  const path = routedPath(req);
  return path === '/api/v1' || path.startsWith('/api/v1/');
}
