import { createHash } from 'node:crypto';
import { Inject, Injectable, Logger, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import {
  AppConfig,
  AppError,
  describeError,
  MetricsService,
  RATE_LIMIT,
  RateLimitDecision,
  type RateLimitPort,
} from '@cariosan/core';
import { peekAuth, resolveAuth, UsersService } from '@cariosan/users';

/**
 * Every /api/v1 request counts against its caller's bucket: the user when the bearer token is
 * valid, the client IP otherwise; a login attempt also counts against IP + username. The
 * tightest bucket is reported in the RateLimit-* headers.
 */
@Injectable()
export class RateLimitMiddleware implements NestMiddleware {
  private readonly logger = new Logger('RateLimit');
  private readonly rejections;
  private storeDown = false;

  constructor(
    @Inject(RATE_LIMIT) private readonly store: RateLimitPort,
    private readonly config: AppConfig,
    private readonly users: UsersService,
    metrics: MetricsService,
  ) {
    this.rejections = metrics.counter('cariosan_rate_limit_rejections_total', 'Requests refused with 429', [
      'bucket',
    ]);
  }

  async use(req: Request, res: Response, next: NextFunction): Promise<void> {
    const { perWindow, loginPerWindow, windowSeconds } = this.config.rateLimit;
    // A token this replica knows: count against its user now, so the count and the token's
    // revocation check (issued by resolveAuth) leave together, in one round trip to Redis.
    const known = peekAuth(req, this.users);
    const knownKey = known ? `u:${known.id}` : undefined;
    const early = knownKey ? this.hit(knownKey, perWindow, windowSeconds) : undefined;
    let auth;
    try {
      auth = await resolveAuth(req, this.users);
    } catch {
      // The token could not be looked up (database outage): the guard answers for it.
      next();
      return;
    }
    const checks: [string, string, number][] = [
      auth ? ['user', `u:${auth.id}`, perWindow] : ['ip', `ip:${req.ip ?? 'unknown'}`, perWindow],
    ];
    const body = req.body as { username?: unknown } | undefined;
    if (
      req.method === 'POST' &&
      req.originalUrl.split('?')[0] === '/api/v1/auth/login' &&
      typeof body?.username === 'string'
    ) {
      // Hash the username: the key is arbitrary user input.
      const who = createHash('sha256').update(body.username.toLowerCase()).digest('hex').slice(0, 32);
      checks.push(['login', `login:${req.ip ?? 'unknown'}:${who}`, loginPerWindow]);
    }
    let tightest: RateLimitDecision | undefined;
    let refusedBy: string | undefined;
    for (const [bucket, key, limit] of checks) {
      const d = early && key === knownKey ? await early : await this.hit(key, limit, windowSeconds);
      // The store is down: the request passes unlimited rather than the whole API going down with it.
      if (!d) continue;
      if (!tightest || d.remaining < tightest.remaining || (!d.allowed && tightest.allowed)) tightest = d;
      if (!d.allowed && !refusedBy) refusedBy = bucket;
    }
    if (tightest) {
      res.setHeader('RateLimit-Limit', String(tightest.limit));
      res.setHeader('RateLimit-Remaining', String(tightest.remaining));
      res.setHeader('RateLimit-Reset', String(tightest.resetSeconds));
    }
    if (refusedBy && tightest) {
      this.rejections.inc({ bucket: refusedBy });
      const retryAfter = tightest.resetSeconds;
      // Thrown, not passed to next(): Nest's filter shapes errors thrown from middleware.
      throw new AppError('rate_limited', `too many requests, retry in ${retryAfter} s`, [{ retryAfter }], {
        'Retry-After': String(retryAfter),
      });
    }
    next();
  }

  /** One count in the store; undefined when the store does not answer. */
  private async hit(
    key: string,
    limit: number,
    windowSeconds: number,
  ): Promise<RateLimitDecision | undefined> {
    try {
      const d = await this.store.hit(key, limit, windowSeconds);
      if (this.storeDown) this.logger.log('rate-limit store answers again');
      this.storeDown = false;
      return d;
    } catch (err) {
      if (!this.storeDown)
        this.logger.warn(
          `rate-limit store unavailable, requests pass unlimited: ${describeError(err).message}`,
        );
      this.storeDown = true;
      return undefined;
    }
  }
}
