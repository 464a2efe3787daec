import { Module } from '@nestjs/common';
import { EDGE_RATE_LIMIT } from '@cariosan/core';
import { UsersModule } from '@cariosan/users';
import { EdgeRateLimiter, RateLimitGuard } from './rate-limit.guard';
import { RateLimiters } from './rate-limiters';

/**
 * The rate limits: `RateLimitGuard` (register it as a global guard before the AuthGuard, see
 * AppModule), the edge counter the HTTP layer calls for requests no guard sees, and
 * `RateLimiters.frameLimiter()` for gateway connections.
 */
@Module({
  imports: [UsersModule],
  providers: [
    RateLimiters,
    RateLimitGuard,
    EdgeRateLimiter,
    { provide: EDGE_RATE_LIMIT, useExisting: EdgeRateLimiter },
  ],
  exports: [RateLimiters, RateLimitGuard, EDGE_RATE_LIMIT],
})
export class RateLimitModule {}
