export * from './client-ip';
export * from './connection-frame-limiter';
export * from './rate-limit.guard';
export * from './rate-limiters';
export * from './ratelimit.module';
