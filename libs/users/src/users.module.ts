import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AuthGuard } from './auth.guard';
import { InvitesController } from './invites.controller';
import { InvitesService } from './invites.service';
import { AuthController, UsersController } from './users.controller';
import { TokenCache } from './token-cache';
import { UsersService } from './users.service';

@Module({
  controllers: [AuthController, UsersController, InvitesController],
  providers: [UsersService, InvitesService, TokenCache, { provide: APP_GUARD, useClass: AuthGuard }],
  exports: [UsersService],
})
export class UsersModule {}
