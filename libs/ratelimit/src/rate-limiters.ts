import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Response } from 'express';
import type Redis from 'ioredis';
import {
  RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
} from 'rate-limiter-flexible';
import { AppConfig, AppError, describeError, MetricsService, REDIS, UnavailableError } from '@cariosan/core';
import { ConnectionFrameLimiter } from './connection-frame-limiter';

/**
 * - `user`: requests of one user; `ip`: requests of one client IP without a known token;
 * - `login`: login attempts for one IP + username; `loginAccount`: for one username from any IP;
 * - `post`: posts of one user in one channel.
 */
export type Bucket = 'user' | 'ip' | 'login' | 'loginAccount' | 'post';

export interface Check {
  bucket: Bucket;
  key: string;
}

/** What counting a request gave so far (a request may count in two steps). */
export interface Tally {
  decisions: Decision[];
  storeFailed: boolean;
}

export interface Decision {
  bucket: Bucket;
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Milliseconds until the bucket's window ends. */
  resetMs: number;
}

/**
 * What each bucket does while Redis does not answer: `local` counts on in this replica's memory
 * (the same limits per replica, so at most replicas x limit in all); `closed` refuses the request
 * with 503, for the buckets that stop password guessing, which would otherwise multiply by the
 * number of replicas.
 */
export const OUTAGE_POLICY: Record<Bucket, 'local' | 'closed'> = {
  user: 'local',
  ip: 'local',
  post: 'local',
  login: 'closed',
  loginAccount: 'closed',
};

/**
 * The buckets, kept by rate-limiter-flexible: with Redis, `RateLimiterRedis` (one Lua script per
 * count: atomic across replicas, fixed windows starting at a key's first hit, keys
 * `<CARIOS_REDIS_PREFIX>rl:<bucket>:<key>` expiring with their window); embedded,
 * `RateLimiterMemory`. A key over its limit is then refused from memory until its window ends, so
 * a flood does not cost Redis a round trip per request.
 */
@Injectable()
export class RateLimiters {
  private readonly logger = new Logger('RateLimit');
  private readonly limiters: Record<Bucket, RateLimiterAbstract>;
  private readonly rejections;
  private readonly storeErrors;
  private storeDown = false;

  constructor(
    private readonly config: AppConfig,
    @Inject(REDIS) private readonly redis: Redis | null,
    metrics: MetricsService,
  ) {
    const rl = config.rateLimit;
    const points: Record<Bucket, number> = {
      user: rl.perWindow,
      ip: rl.anonymousPerWindow,
      login: rl.loginPerWindow,
      loginAccount: rl.loginAccountPerWindow,
      post: rl.postsPerWindow,
    };
    const make = (bucket: Bucket): RateLimiterAbstract => {
      const opts = { keyPrefix: `rl:${bucket}`, points: points[bucket], duration: rl.windowSeconds };
      if (!redis) return new RateLimiterMemory(opts);
      return new RateLimiterRedis({
        ...opts,
        storeClient: redis,
        // Not connected: answer at once (from the insurance or with an error), never queue.
        rejectIfRedisNotReady: true,
        inMemoryBlockOnConsumed: opts.points + 1,
        insuranceLimiter: OUTAGE_POLICY[bucket] === 'local' ? new RateLimiterMemory(opts) : undefined,
      });
    };
    this.limiters = {
      user: make('user'),
      ip: make('ip'),
      login: make('login'),
      loginAccount: make('loginAccount'),
      post: make('post'),
    };
    this.rejections = metrics.counter('cariosan_rate_limit_rejections_total', 'Requests refused with 429', [
      'bucket',
    ]);
    this.storeErrors = metrics.counter(
      'cariosan_rate_limit_store_errors_total',
      'Counts Redis did not take (answered from this replica or refused with 503)',
      ['bucket'],
    );
  }

  /**
   * Counts one hit in each bucket, all issued in this tick (so they leave in one write to Redis,
   * beside whatever else the request issues now). Appends to `into`: the decisions, and whether a
   * `closed` bucket's store did not answer. Never rejects.
   */
  async consume(checks: Check[], into: Tally = { decisions: [], storeFailed: false }): Promise<Tally> {
    this.noteStore();
    const settled = await Promise.allSettled(checks.map((c) => this.limiters[c.bucket].consume(c.key)));
    settled.forEach((s, i) => {
      const { bucket } = checks[i]!;
      const res: unknown = s.status === 'fulfilled' ? s.value : s.reason;
      if (res instanceof RateLimiterRes) {
        into.decisions.push({
          bucket,
          allowed: s.status === 'fulfilled',
          limit: this.limiters[bucket].points,
          remaining: res.remainingPoints,
          resetMs: res.msBeforeNext,
        });
      } else {
        this.storeErrors.inc({ bucket });
        if (!into.storeFailed)
          this.logger.debug(`rate-limit store unavailable: ${describeError(res).message}`);
        into.storeFailed = true;
      }
    });
    return into;
  }

  /** Logs when the counts move to this replica's memory and back to Redis. */
  private noteStore(): void {
    if (!this.redis) return;
    const down = this.redis.status !== 'ready';
    if (down === this.storeDown) return;
    this.storeDown = down;
    if (down) this.logger.warn('Redis unavailable: rate limits count per replica, logins answer 503');
    else this.logger.log('Redis answers again: rate limits are shared again');
  }

  /**
   * Sets the RateLimit-* headers of the tightest decision (a refusing one first, else the one with
   * the fewest requests left) and throws the 429 when any refused.
   */
  settle(res: Response, { decisions, storeFailed }: Tally): void {
    const refused = decisions.filter((d) => !d.allowed);
    const tightest = refused.length
      ? refused.reduce((a, b) => (b.resetMs > a.resetMs ? b : a))
      : decisions.reduce<Decision | undefined>(
          (a, b) =>
            !a || b.remaining < a.remaining || (b.remaining === a.remaining && b.limit < a.limit) ? b : a,
          undefined,
        );
    if (!tightest) {
      if (storeFailed) throw new UnavailableError('rate limiting is unavailable, try again shortly');
      return;
    }
    const resetSeconds = Math.max(1, Math.ceil(tightest.resetMs / 1000));
    if (!res.headersSent) {
      res.setHeader('RateLimit-Limit', String(tightest.limit));
      res.setHeader('RateLimit-Remaining', String(tightest.remaining));
      res.setHeader('RateLimit-Reset', String(resetSeconds));
    }
    if (refused.length) {
      this.rejections.inc({ bucket: tightest.bucket });
      throw new AppError(
        'rate_limited',
        `too many requests, retry in ${resetSeconds} s`,
        [{ retryAfter: resetSeconds }],
        { 'Retry-After': String(resetSeconds) },
      );
    }
    // A bucket that must not count locally had no answer: refuse rather than let it go uncounted.
    if (storeFailed) throw new UnavailableError('rate limiting is unavailable, try again shortly');
  }

  /** A frame limiter for one new gateway connection (`CARIOS_RATE_LIMIT_GATEWAY_*`). */
  frameLimiter(): ConnectionFrameLimiter {
    const { gatewayFrames, gatewayWindowSeconds } = this.config.rateLimit;
    return new ConnectionFrameLimiter(gatewayFrames, gatewayWindowSeconds * 1000);
  }
}
