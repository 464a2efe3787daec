import { createHash } from 'node:crypto';
import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request, Response } from 'express';
import {
  AppError,
  EdgeRateLimit,
  IS_PUBLIC,
  isApiRequest,
  RATE_LIMIT_KIND,
  RateLimitKind,
} from '@cariosan/core';
import { peekAuth, resolveAuth, UsersService } from '@cariosan/users';
import { clientIp } from './client-ip';
import { Check, RateLimiters, Tally } from './rate-limiters';

const COUNTED = Symbol('rateLimitCounted');
type CountedRequest = Request & { [COUNTED]?: true };

/** Marks a request as counted; false when it already was (each request counts once). */
function claim(req: Request): boolean {
  const r = req as CountedRequest;
  if (r[COUNTED]) return false;
  r[COUNTED] = true;
  return true;
}

/** The login's username as the key of its buckets: lower-cased (as stored) and hashed (it is arbitrary input). */
function loginName(body: unknown): string | undefined {
  const name = (body as { username?: unknown } | undefined)?.username;
  if (typeof name !== 'string') return undefined;
  return createHash('sha256').update(name.toLowerCase()).digest('hex').slice(0, 32);
}

/**
 * Counts every routed /api/v1 request in the buckets of the handler Nest matched (its
 * `@RateLimit` kind, else user or anonymous by `@Public`), so every spelling of a path that reaches
 * a handler counts where that handler does. Registered before the AuthGuard: a request is counted
 * before any database work. A token this replica has cached is counted against its user in the
 * same round trip to Redis as its revocation check; any other request with a token (unknown,
 * malformed, not cached yet) first counts against its IP's anonymous bucket, and only then is the
 * token looked up, so a flood of made-up tokens is cut off by the IP's budget, not by Postgres.
 */
@Injectable()
export class RateLimitGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly limiters: RateLimiters,
    private readonly users: UsersService,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    if (ctx.getType() !== 'http') return true;
    const req = ctx.switchToHttp().getRequest<Request>();
    const res = ctx.switchToHttp().getResponse<Response>();
    if (!isApiRequest(req) || !claim(req)) return true;
    const targets = [ctx.getHandler(), ctx.getClass()];
    const kind =
      this.reflector.getAllAndOverride<RateLimitKind>(RATE_LIMIT_KIND, targets) ??
      (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, targets) ? 'anonymous' : 'user');
    const ip = clientIp(req);

    if (kind === 'anonymous' || kind === 'login') {
      const checks: Check[] = [{ bucket: 'ip', key: ip }];
      const name = kind === 'login' ? loginName(req.body) : undefined;
      if (name) checks.push({ bucket: 'login', key: `${ip}:${name}` }, { bucket: 'loginAccount', key: name });
      this.limiters.settle(res, await this.limiters.consume(checks));
      return true;
    }

    const userChecks = (userId: string): Check[] => {
      const checks: Check[] = [{ bucket: 'user', key: userId }];
      const channel = req.params?.id;
      if (kind === 'post' && typeof channel === 'string')
        checks.push({ bucket: 'post', key: `${userId}:${channel}` });
      return checks;
    };
    const known = peekAuth(req, this.users);
    if (known) {
      // Issued in this tick, like the token's revocation check that resolveAuth issues below.
      const counting = this.limiters.consume(userChecks(known.id));
      void resolveAuth(req, this.users).catch(() => undefined);
      this.limiters.settle(res, await counting);
      return true;
    }
    const tally: Tally = await this.limiters.consume([{ bucket: 'ip', key: ip }]);
    this.limiters.settle(res, tally);
    // A lookup that fails (database outage) is answered by the AuthGuard, which awaits the same lookup.
    const auth = await resolveAuth(req, this.users).catch(() => undefined);
    if (auth) this.limiters.settle(res, await this.limiters.consume(userChecks(auth.id), tally));
    return true;
  }
}

/**
 * Counts the /api/v1 requests no guard sees (refused before routing, no route matched, documents
 * served outside Nest) against the client IP's anonymous bucket, with the same limiters.
 */
@Injectable()
export class EdgeRateLimiter implements EdgeRateLimit {
  constructor(private readonly limiters: RateLimiters) {}

  async countUnrouted(req: Request, res: Response): Promise<AppError | undefined> {
    if (!isApiRequest(req) || !claim(req)) return undefined;
    try {
      this.limiters.settle(res, await this.limiters.consume([{ bucket: 'ip', key: clientIp(req) }]));
      return undefined;
    } catch (err) {
      return err instanceof AppError ? err : undefined;
    }
  }
}
