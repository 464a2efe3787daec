export * from './gateway.module';
export * from './protocol';
export * from './resume-store/resume-store.port';
export { GATEWAY_PATH } from './gateway.service';
export { SESSION_RELEASE_TOPIC, SESSION_RELEASED_TOPIC } from './session-manager';
export { RedisResumeStore } from './resume-store/redis-resume-store';
export { InProcessResumeStore } from './resume-store/in-process-resume-store';
export { parseBusEvent } from './gateway-event';
export { buildAsyncApi } from './asyncapi';
