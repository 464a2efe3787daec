import { Module } from '@nestjs/common';
import type Redis from 'ioredis';
import { AppConfig, PRESENCE, REDIS } from '@cariosan/core';
import { UsersModule } from '@cariosan/users';
import { PresenceController } from './presence.controller';
import { PresenceService } from './presence.service';
import { InProcessPresenceStore } from './stores/in-process-presence-store';
import { RedisPresenceStore } from './stores/redis-presence-store';

@Module({
  imports: [UsersModule],
  controllers: [PresenceController],
  providers: [
    PresenceService,
    {
      provide: PRESENCE,
      inject: [AppConfig, REDIS],
      useFactory: (config: AppConfig, redis: Redis | null) =>
        redis ? new RedisPresenceStore(redis, config.redisPrefix) : new InProcessPresenceStore(),
    },
  ],
  exports: [PresenceService],
})
export class PresenceModule {}
