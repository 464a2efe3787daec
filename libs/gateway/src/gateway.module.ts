import { Module } from '@nestjs/common';
import type Redis from 'ioredis';
import { AppConfig, REDIS } from '@cariosan/core';
import { AttachmentsModule } from '@cariosan/attachments';
import { ChannelsModule } from '@cariosan/channels';
import { PresenceModule } from '@cariosan/presence';
import { RateLimitModule } from '@cariosan/ratelimit';
import { UsersModule } from '@cariosan/users';
import { AsyncApiController } from './asyncapi.controller';
import { ConnectionGateway } from './connection.gateway';
import { Fanout } from './fanout.service';
import { MembershipService } from './membership.service';
import { PresenceDispatch } from './presence-dispatch.service';
import { InProcessResumeStore } from './resume-store/in-process-resume-store';
import { RedisResumeStore } from './resume-store/redis-resume-store';
import { RESUME_STORE } from './resume-store/resume-store.port';
import { SessionManager } from './session-manager';
import { SessionPresence } from './session-presence.service';

@Module({
  imports: [UsersModule, ChannelsModule, AttachmentsModule, PresenceModule, RateLimitModule],
  controllers: [AsyncApiController],
  providers: [
    ConnectionGateway,
    SessionManager,
    SessionPresence,
    Fanout,
    MembershipService,
    PresenceDispatch,
    {
      provide: RESUME_STORE,
      inject: [AppConfig, REDIS],
      // Kept a little past the resume window so a session is never gone before its window ends.
      useFactory: (config: AppConfig, redis: Redis | null) => {
        const ttlMs = config.gatewayResumeWindowMs + 2 * config.gatewayHeartbeatMs;
        return redis ? new RedisResumeStore(redis, ttlMs) : new InProcessResumeStore(ttlMs);
      },
    },
  ],
})
export class GatewayModule {}
