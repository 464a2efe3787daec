import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { DataSourceOptions, MixedList, EntitySchema } from 'typeorm';
import type { AppConfig } from '../config/app-config';
import { pgliteDriver } from './pglite-pool';

export interface Schema {
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  entities: MixedList<Function | string | EntitySchema>;
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  migrations: MixedList<Function | string>;
}

/** Real Postgres when a URL is configured, embedded PGlite in the data directory otherwise. */
export function dataSourceOptions(config: AppConfig, schema: Schema): DataSourceOptions {
  const common = {
    type: 'postgres' as const,
    entities: schema.entities,
    migrations: schema.migrations,
    migrationsTableName: 'migrations',
    migrationsTransactionMode: 'each' as const,
    synchronize: false,
    migrationsRun: false,
    logging: ['error' as const],
  };
  if (config.databaseUrl) {
    return {
      ...common,
      url: config.databaseUrl,
      extra: { max: config.databasePoolSize, connectionTimeoutMillis: 5000, idleTimeoutMillis: 30_000 },
    };
  }
  const dir = resolve(config.dataDir, 'pg');
  mkdirSync(dir, { recursive: true });
  return { ...common, driver: pgliteDriver(dir), database: 'postgres' };
}

export function embeddedDataPath(config: AppConfig, ...parts: string[]): string {
  return join(resolve(config.dataDir), ...parts);
}
