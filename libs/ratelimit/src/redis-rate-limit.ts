import type Redis from 'ioredis';
import type { RateLimitDecision, RateLimitPort } from '@cariosan/core';
import { decision, windowStart } from './in-process-rate-limit';

/**
 * Fixed windows shared by every replica: one INCR per hit on `rl:<key>:<window>`, the key
 * expiring with its window. The window index comes from this replica's clock, so replicas
 * need roughly synchronised clocks (NTP), as for the rest of the system.
 */
export class RedisRateLimit implements RateLimitPort {
  constructor(private readonly redis: Redis) {}

  async hit(key: string, limit: number, windowSeconds: number): Promise<RateLimitDecision> {
    const now = Date.now();
    const start = windowStart(now, windowSeconds);
    const resetAt = start + windowSeconds * 1000;
    const redisKey = `rl:${key}:${start}`;
    const results = await this.redis
      .multi()
      .incr(redisKey)
      .pexpireat(redisKey, resetAt + 1000)
      .exec();
    const [incrErr, count] = results?.[0] ?? [new Error('no reply'), 0];
    if (incrErr) throw incrErr;
    return decision(Number(count), limit, resetAt - now);
  }
}
