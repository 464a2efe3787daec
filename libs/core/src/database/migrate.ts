import type { DataSource, Migration } from 'typeorm';

/** Any fixed 64-bit key: every replica asks for the same lock. */
const MIGRATION_LOCK_KEY = '7204817310985233';

/**
 * Runs `work` while holding the migration lock. On real Postgres several replicas may boot at
 * once, so this is a session-level advisory lock: everything that touches the schema at boot
 * (creating the `migrations` table, reading it, migrating) happens under it. The embedded
 * database belongs to one process, so no lock there.
 */
export async function withMigrationLock<T>(
  dataSource: DataSource,
  embedded: boolean,
  work: () => Promise<T>,
): Promise<T> {
  if (embedded) return work();
  const lockHolder = dataSource.createQueryRunner();
  await lockHolder.connect();
  try {
    // Waiting while another replica migrates is expected: not bounded by the request timeouts.
    await lockHolder.query('SET lock_timeout = 0');
    await lockHolder.query('SET statement_timeout = 0');
    await lockHolder.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      return await work();
    } finally {
      await lockHolder.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
      await lockHolder.query('RESET lock_timeout');
      await lockHolder.query('RESET statement_timeout');
    }
  } finally {
    await lockHolder.release();
  }
}

/** Applies pending migrations under the lock: the first replica migrates, the others wait and find nothing left to do. */
export async function migrateUnderLock(dataSource: DataSource, embedded: boolean): Promise<Migration[]> {
  return withMigrationLock(dataSource, embedded, () => dataSource.runMigrations({ transaction: 'each' }));
}
