import { DynamicModule, Logger, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config';
import { dataSourceOptions, Schema } from './data-source-options';
import { migrateUnderLock } from './migrate';

@Module({})
export class DatabaseModule {
  static forRoot(schema: Schema): DynamicModule {
    return {
      module: DatabaseModule,
      imports: [
        TypeOrmModule.forRootAsync({
          inject: [AppConfig],
          // migrateOnBoot rides along to the factory below; TypeORM ignores it.
          useFactory: (config: AppConfig) => ({ ...dataSourceOptions(config, schema), migrateOnBoot: config.migrateOnBoot }),
          // Migrations run before any provider can touch the database.
          dataSourceFactory: async (options) => {
            const config = options as ReturnType<typeof dataSourceOptions>;
            const dataSource = await new DataSource(config).initialize();
            const embedded = !('url' in config && config.url);
            const logger = new Logger('Database');
            logger.log(embedded ? 'using embedded Postgres (PGlite)' : 'using Postgres');
            const pending = await dataSource.showMigrations();
            if (pending) {
              const migrateOnBoot = (options as { migrateOnBoot?: boolean }).migrateOnBoot;
              if (migrateOnBoot === false) {
                logger.warn('pending migrations are not applied: CARIOS_MIGRATE_ON_BOOT=false');
              } else {
                const applied = await migrateUnderLock(dataSource, embedded);
                logger.log(`migrations applied: ${applied.map((m) => m.name).join(', ') || 'none (another replica did)'}`);
              }
            }
            return dataSource;
          },
        }),
      ],
      exports: [TypeOrmModule],
    };
  }
}
