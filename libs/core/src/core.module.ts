import { DynamicModule, Global, Module } from '@nestjs/common';
import { AppConfig } from './config/app-config';
import { ConfigModule } from './config/config.module';
import { DatabaseModule } from './database/database.module';
import type { Schema } from './database/data-source-options';
import { HealthModule } from './health/health.module';
import { ShutdownState } from './lifecycle/shutdown-state';
import { LoggingModule } from './logging/logging.module';
import { MetricsModule } from './metrics/metrics.module';
import { BUS } from './ports/bus.port';
import { InProcessBus } from './ports/in-process-bus';
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
      ],
      providers: [ShutdownState, { provide: BUS, useClass: InProcessBus }],
      exports: [ShutdownState, BUS, DatabaseModule],
    };
  }
}
