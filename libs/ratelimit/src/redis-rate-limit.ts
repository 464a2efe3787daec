import type Redis from 'ioredis';
import type { RateLimitDecision, RateLimitPort } from '@cariosan/core';
import { decision, windowStart } from './in-process-rate-limit';

/** Counts a hit and sets the window's expiry on the first one: one command, atomic. */
const HIT_SCRIPT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIREAT', KEYS[1], ARGV[1]) end
return n`;

type ScriptedRedis = Redis & { rateLimitHit(key: string, expireAtMs: number): Promise<number> };

/**
 * Fixed windows shared by every replica: one script call per hit on `rl:<key>:<window>`, the key
 * expiring with its window. One command (not MULTI/INCR/PEXPIREAT/EXEC), so it joins the other
 * commands of its tick in one write (auto-pipelining), e.g. the token's revocation check. The
 * window index comes from this replica's clock, so replicas need roughly synchronised clocks
 * (NTP), as for the rest of the system.
 */
export class RedisRateLimit implements RateLimitPort {
  private readonly redis: ScriptedRedis;

  constructor(redis: Redis) {
    if (!('rateLimitHit' in redis)) redis.defineCommand('rateLimitHit', { numberOfKeys: 1, lua: HIT_SCRIPT });
    this.redis = redis as ScriptedRedis;
  }

  async hit(key: string, limit: number, windowSeconds: number): Promise<RateLimitDecision> {
    const now = Date.now();
    const start = windowStart(now, windowSeconds);
    const resetAt = start + windowSeconds * 1000;
    const count = await this.redis.rateLimitHit(`rl:${key}:${start}`, resetAt + 1000);
    return decision(Number(count), limit, resetAt - now);
  }
}
