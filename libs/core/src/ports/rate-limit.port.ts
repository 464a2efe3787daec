export interface RateLimitDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until the window resets. */
  resetSeconds: number;
}

/** Counts hits per key in fixed windows shared by every replica. Redis or in-process. */
export interface RateLimitPort {
  hit(key: string, limit: number, windowSeconds: number): Promise<RateLimitDecision>;
}

export const RATE_LIMIT = Symbol('RATE_LIMIT');
