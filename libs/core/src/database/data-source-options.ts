import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { DataSourceOptions, MixedList, EntitySchema } from 'typeorm';
import type { AppConfig } from '../config/app-config';
import { pgliteDriver } from './pglite-pool';
import { ResilientPgClient } from './resilient-pg-client';
import { TypeOrmLogger } from './typeorm-logger';

/**
 * How long a request waits for a pooled connection (or for a new one to open). Short: a full pool
 * means Postgres is stuck or overloaded, and answering 503 beats queueing without bound.
 */
export const POOL_ACQUIRE_TIMEOUT_MS = 3000;

export interface Schema {
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  entities: MixedList<Function | string | EntitySchema>;
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  migrations: MixedList<Function | string>;
}

/** Real Postgres when a URL is configured, embedded PGlite in the data directory otherwise. */
export function dataSourceOptions(
  config: AppConfig,
  schema: Schema,
  opts: { reportSchemaSteps?: boolean } = {},
): DataSourceOptions {
  const common = {
    type: 'postgres' as const,
    entities: schema.entities,
    migrations: schema.migrations,
    migrationsTableName: 'migrations',
    migrationsTransactionMode: 'each' as const,
    synchronize: false,
    migrationsRun: false,
    logger: new TypeOrmLogger(opts.reportSchemaSteps),
  };
  if (config.databaseUrl) {
    return {
      ...common,
      url: config.databaseUrl,
      // Handed to pg.Pool and from it to every client (node-postgres connection options).
      extra: {
        Client: ResilientPgClient,
        max: config.databasePoolSize,
        connectionTimeoutMillis: POOL_ACQUIRE_TIMEOUT_MS,
        idleTimeoutMillis: 30_000,
        keepAlive: true,
        application_name: 'cariosan',
        lock_timeout: config.databaseLockTimeoutMs,
        statement_timeout: config.databaseStatementTimeoutMs,
        // A transaction left open by a bug must not hold a channel's lock for ever.
        idle_in_transaction_session_timeout: 60_000,
      },
    };
  }
  const dir = resolve(config.dataDir, 'pg');
  mkdirSync(dir, { recursive: true });
  return { ...common, driver: pgliteDriver(dir), database: 'postgres' };
}

export function embeddedDataPath(config: AppConfig, ...parts: string[]): string {
  return join(resolve(config.dataDir), ...parts);
}
