import { CanActivate, createParamDecorator, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { IS_PUBLIC, UnauthorizedError } from '@cariosan/core';
import { AuthenticatedUser, tokenHashOf, UsersService } from './users.service';

const BEARER = /^Bearer ([A-Za-z0-9_-]{16,128})$/;

type AuthedRequest = Request & {
  auth?: AuthenticatedUser;
  authResolved?: Promise<AuthenticatedUser | undefined>;
  bearer?: { token: string; hash: string } | null;
};

/** The request's well-formed bearer token and its hash, parsed once. */
function bearerOf(req: AuthedRequest): { token: string; hash: string } | null {
  if (req.bearer === undefined) {
    const header = req.headers.authorization;
    const token = header ? BEARER.exec(header)?.[1] : undefined;
    req.bearer = token ? { token, hash: tokenHashOf(token) } : null;
  }
  return req.bearer;
}

/**
 * The caller behind the request's bearer token, looked up once per request (the rate limiter
 * needs it before the guard runs). Undefined for no token, a malformed one or a revoked one.
 */
export function resolveAuth(req: Request, users: UsersService): Promise<AuthenticatedUser | undefined> {
  const r = req as AuthedRequest;
  r.authResolved ??= (async () => {
    const bearer = bearerOf(r);
    r.auth = bearer ? await users.authenticate(bearer.token, bearer.hash) : undefined;
    return r.auth;
  })();
  return r.authResolved;
}

/**
 * The caller as this replica last saw the token, without waiting for the revocation check: lets
 * the rate limiter count the request against the user's bucket in the same round trip as that
 * check. `resolveAuth` has the final word.
 */
export function peekAuth(req: Request, users: UsersService): AuthenticatedUser | undefined {
  const bearer = bearerOf(req as AuthedRequest);
  return bearer ? users.cachedUser(bearer.hash) : undefined;
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
