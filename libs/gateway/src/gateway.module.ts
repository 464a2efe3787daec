import { Module } from '@nestjs/common';
import type Redis from 'ioredis';
import { AppConfig, REDIS } from '@cariosan/core';
import { AttachmentsModule } from '@cariosan/attachments';
import { ChannelsModule } from '@cariosan/channels';
import { UsersModule } from '@cariosan/users';
import { AsyncApiController } from './asyncapi.controller';
import { Fanout } from './fanout.service';
import { GatewayService } from './gateway.service';
import { MembershipService } from './membership.service';
import { InProcessSessionStore } from './session-store/in-process-session-store';
import { RedisSessionStore } from './session-store/redis-session-store';
import { SESSION_STORE } from './session-store/session-store.port';

@Module({
  imports: [UsersModule, ChannelsModule, AttachmentsModule],
  controllers: [AsyncApiController],
  providers: [
    GatewayService,
    Fanout,
    MembershipService,
    {
      provide: SESSION_STORE,
      inject: [AppConfig, REDIS],
      // Kept a little past the resume window so a session is never gone before its window ends.
      useFactory: (config: AppConfig, redis: Redis | null) => {
        const ttlMs = config.gatewayResumeWindowMs + 2 * config.gatewayHeartbeatMs;
        return redis ? new RedisSessionStore(redis, ttlMs) : new InProcessSessionStore(ttlMs);
      },
    },
  ],
})
export class GatewayModule {}
