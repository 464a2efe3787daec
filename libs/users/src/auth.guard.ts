import { CanActivate, createParamDecorator, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { IS_PUBLIC, UnauthorizedError } from '@cariosan/core';
import { AuthenticatedUser, UsersService } from './users.service';

const BEARER = /^Bearer ([A-Za-z0-9_-]{16,128})$/;

type AuthedRequest = Request & {
  auth?: AuthenticatedUser;
  authResolved?: Promise<AuthenticatedUser | undefined>;
};

/**
 * The caller behind the request's bearer token, looked up once per request (the rate limiter
 * needs it before the guard runs). Undefined for no token, a malformed one or a revoked one.
 */
export function resolveAuth(req: Request, users: UsersService): Promise<AuthenticatedUser | undefined> {
  const r = req as AuthedRequest;
  r.authResolved ??= (async () => {
    const header = req.headers.authorization;
    const token = header ? BEARER.exec(header)?.[1] : undefined;
    r.auth = token ? await users.authenticate(token) : undefined;
    return r.auth;
  })();
  return r.authResolved;
}

/** Every route needs a valid bearer token unless it is marked @Public(). */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly users: UsersService,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    if (ctx.getType() !== 'http') return true;
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [ctx.getHandler(), ctx.getClass()])) return true;
    const req = ctx.switchToHttp().getRequest<AuthedRequest>();
    const auth = await resolveAuth(req, this.users);
    if (!auth)
      throw new UnauthorizedError(
        req.headers.authorization ? 'invalid or revoked token' : 'missing bearer token',
      );
    return true;
  }
}

/** The caller of an authenticated route. */
export const CurrentUser = createParamDecorator((_: unknown, ctx: ExecutionContext): AuthenticatedUser => {
  const auth = ctx.switchToHttp().getRequest<AuthedRequest>().auth;
  if (!auth) throw new UnauthorizedError();
  return auth;
});
