import { DynamicModule, Logger, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config';
import { dataSourceOptions, Schema } from './data-source-options';
import { Db } from './db.service';
import { migrateUnderLock, withMigrationLock } from './migrate';

@Module({})
export class DatabaseModule {
  static forRoot(schema: Schema): DynamicModule {
    return {
      module: DatabaseModule,
      imports: [
        TypeOrmModule.forRootAsync({
          inject: [AppConfig],
          // migrateOnBoot rides along to the factory below; TypeORM ignores it.
          useFactory: (config: AppConfig) => ({
            ...dataSourceOptions(config, schema),
            migrateOnBoot: config.migrateOnBoot,
          }),
          // Migrations run before any provider can touch the database.
          dataSourceFactory: async (options) => {
            const config = options as ReturnType<typeof dataSourceOptions>;
            const dataSource = await new DataSource(config).initialize();
            const embedded = !('url' in config && config.url);
            const logger = new Logger('Database');
            logger.log(embedded ? 'using embedded Postgres (PGlite)' : 'using Postgres');
            // Even the check creates the migrations table: it runs under the lock, or replicas booting at once race on it.
            if ((options as { migrateOnBoot?: boolean }).migrateOnBoot !== false) {
              const applied = await migrateUnderLock(dataSource, embedded);
              logger.log(
                applied.length
                  ? `migrations applied: ${applied.map((m) => m.name).join(', ')}`
                  : 'schema up to date',
              );
            } else if (await withMigrationLock(dataSource, embedded, () => dataSource.showMigrations())) {
              logger.warn('pending migrations are not applied: CARIOS_MIGRATE_ON_BOOT=false');
            }
            return dataSource;
          },
        }),
      ],
      providers: [Db],
      exports: [TypeOrmModule, Db],
    };
  }
}
