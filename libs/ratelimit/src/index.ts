export * from './in-process-rate-limit';
export * from './ratelimit.module';
export * from './redis-rate-limit';
