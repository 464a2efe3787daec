import { MiddlewareConsumer, Module, NestModule } from '@nestjs/common';
import type Redis from 'ioredis';
import { RATE_LIMIT, REDIS } from '@cariosan/core';
import { UsersModule } from '@cariosan/users';
import { InProcessRateLimit } from './in-process-rate-limit';
import { RateLimitMiddleware } from './rate-limit.middleware';
import { RedisRateLimit } from './redis-rate-limit';

@Module({
  imports: [UsersModule],
  providers: [
    {
      provide: RATE_LIMIT,
      inject: [REDIS],
      useFactory: (redis: Redis | null) => (redis ? new RedisRateLimit(redis) : new InProcessRateLimit()),
    },
  ],
  exports: [RATE_LIMIT],
})
export class RateLimitModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(RateLimitMiddleware).forRoutes('api/v1/*path');
  }
}
