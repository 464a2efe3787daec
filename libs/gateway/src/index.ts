export * from './gateway.module';
export * from './protocol';
export * from './session-store/session-store.port';
export { GATEWAY_PATH, SESSION_CLAIMED_TOPIC } from './gateway.service';
export { RedisSessionStore } from './session-store/redis-session-store';
export { buildAsyncApi } from './asyncapi';
