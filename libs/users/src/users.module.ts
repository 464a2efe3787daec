import { Module } from '@nestjs/common';
import { AuthGuard } from './auth.guard';
import { InvitesController } from './invites.controller';
import { InvitesService } from './invites.service';
import { AuthController, UsersController } from './users.controller';
import { TokenCache } from './token-cache';
import { UsersService } from './users.service';

@Module({
  controllers: [AuthController, UsersController, InvitesController],
  providers: [UsersService, InvitesService, TokenCache, AuthGuard],
  // AuthGuard is registered as a global guard by the app, after the rate limiter (see AppModule).
  exports: [UsersService, AuthGuard],
})
export class UsersModule {}
