import { DynamicModule, Global, Module } from '@nestjs/common';
import { AppConfig } from './config/app-config';
import { ConfigModule } from './config/config.module';
import { DatabaseModule } from './database/database.module';
import type { Schema } from './database/data-source-options';
import { HealthModule } from './health/health.module';
import { ShutdownState } from './lifecycle/shutdown-state';
import { LoggingModule } from './logging/logging.module';
import { MetricsModule } from './metrics/metrics.module';
import { OutboxModule } from './outbox/outbox.module';
import { BUS } from './ports/bus.port';
import { InProcessBus } from './ports/in-process-bus';
import { RedisBus } from './ports/redis-bus';
import { RedisModule } from './redis/redis.module';

/** Everything every domain stands on: config, logs, database, Redis, health, metrics, shutdown. */
@Global()
@Module({})
export class CoreModule {
  static forRoot(config: AppConfig, schema: Schema): DynamicModule {
    return {
      module: CoreModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggingModule,
        DatabaseModule.forRoot(schema),
        RedisModule,
        MetricsModule,
        HealthModule,
        OutboxModule,
      ],
      providers: [
        ShutdownState,
        {
          provide: BUS,
          inject: [AppConfig],
          // Chosen once at boot: Redis pub/sub across replicas, or a local call when embedded.
          useFactory: (c: AppConfig) =>
            c.redisUrl ? new RedisBus(c.redisUrl, c.redisPrefix) : new InProcessBus(),
        },
      ],
      exports: [ShutdownState, BUS, DatabaseModule, OutboxModule],
    };
  }
}
