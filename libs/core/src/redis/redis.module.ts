import { Global, Inject, Logger, Module, OnApplicationShutdown } from '@nestjs/common';
import Redis from 'ioredis';
import { AppConfig } from '../config/app-config';

/** The shared command connection, or null when no Redis is configured (embedded mode). */
export const REDIS = Symbol('REDIS');

/**
 * Opens a Redis connection that fails fast while Redis is down (so callers answer 503)
 * and reconnects by itself with a capped backoff.
 */
export function createRedis(url: string, name: string, keyPrefix?: string): Redis {
  const logger = new Logger(`Redis:${name}`);
  const client = new Redis(url, {
    connectionName: `cariosan-${name}`,
    keyPrefix,
    enableOfflineQueue: name === 'subscriber',
    maxRetriesPerRequest: 1,
    // Commands issued in one tick (a fanout writes one frame per session) go out in one write.
    enableAutoPipelining: name !== 'subscriber',
    lazyConnect: false,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  let down = false;
  client.on('error', (err: Error) => {
    if (!down) logger.warn(`connection error: ${err.message}`);
    down = true;
  });
  client.on('ready', () => {
    if (down) logger.log('reconnected');
    down = false;
  });
  return client;
}

@Global()
@Module({
  providers: [
    {
      provide: REDIS,
      inject: [AppConfig],
      useFactory: (config: AppConfig) =>
        config.redisUrl ? createRedis(config.redisUrl, 'commands', config.redisPrefix) : null,
    },
  ],
  exports: [REDIS],
})
export class RedisModule implements OnApplicationShutdown {
  constructor(@Inject(REDIS) private readonly redis: Redis | null) {}

  async onApplicationShutdown(): Promise<void> {
    await this.redis?.quit().catch(() => this.redis?.disconnect());
  }
}
