import { CanActivate, createParamDecorator, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { IS_PUBLIC, UnauthorizedError } from '@cariosan/core';
import { AuthenticatedUser, UsersService } from './users.service';

const BEARER = /^Bearer ([A-Za-z0-9_-]{16,128})$/;

type AuthedRequest = Request & { auth?: AuthenticatedUser };

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
    const header = req.headers.authorization;
    const token = header ? BEARER.exec(header)?.[1] : undefined;
    const auth = token ? await this.users.authenticate(token) : undefined;
    if (!auth) throw new UnauthorizedError(header ? 'invalid or revoked token' : 'missing bearer token');
    req.auth = auth;
    return true;
  }
}

/** The caller of an authenticated route. */
export const CurrentUser = createParamDecorator((_: unknown, ctx: ExecutionContext): AuthenticatedUser => {
  const auth = ctx.switchToHttp().getRequest<AuthedRequest>().auth;
  if (!auth) throw new UnauthorizedError();
  return auth;
});
