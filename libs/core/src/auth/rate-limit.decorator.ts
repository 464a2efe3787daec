import { SetMetadata } from '@nestjs/common';

/**
 * The buckets a route counts against, beside its caller's (the user's with a valid token, the
 * client IP's otherwise):
 * - `anonymous`: the client IP only (the default of a @Public() route);
 * - `user`: the user (the default of every other route);
 * - `login`: the IP, plus IP + username and username alone (the body's `username`);
 * - `post`: the user, plus user + channel (the route's `:id`).
 */
export type RateLimitKind = 'anonymous' | 'user' | 'login' | 'post';

export const RATE_LIMIT_KIND = 'cariosan:rate-limit';

/** Sets a route's rate-limit kind; the guard reads it from the handler Nest matched. */
export const RateLimit = (kind: RateLimitKind) => SetMetadata(RATE_LIMIT_KIND, kind);
