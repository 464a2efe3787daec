import type { DataSource, Migration } from 'typeorm';

/** Any fixed 64-bit key: every replica asks for the same lock. */
const MIGRATION_LOCK_KEY = '7204817310985233';

/**
 * Applies pending migrations. On real Postgres several replicas may boot at once, so the
 * runner holds a session-level advisory lock: the first one migrates, the others wait and
 * then find nothing left to do. The embedded database belongs to one process, so no lock.
 */
export async function migrateUnderLock(dataSource: DataSource, embedded: boolean): Promise<Migration[]> {
  if (embedded) return dataSource.runMigrations({ transaction: 'each' });
  const lockHolder = dataSource.createQueryRunner();
  await lockHolder.connect();
  try {
    await lockHolder.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      return await dataSource.runMigrations({ transaction: 'each' });
    } finally {
      await lockHolder.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await lockHolder.release();
  }
}
