export * from './presence.module';
export * from './presence.service';
export { MAX_PRESENCE_IDS } from './presence.controller';
export { RedisPresenceStore } from './stores/redis-presence-store';
export { InProcessPresenceStore } from './stores/in-process-presence-store';
