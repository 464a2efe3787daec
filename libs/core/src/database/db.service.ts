import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';

interface QueryConfig {
  text: string;
  values: unknown[];
  name?: string;
}

interface PooledClient {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] } | undefined>;
}

/** What pg.Pool and the embedded pool (pglite-pool.ts) both offer. */
interface Pool {
  query(config: QueryConfig): Promise<{ rows: unknown[] }>;
  connect(
    cb: (err: Error | undefined, client: PooledClient | null, release: (err?: Error) => void) => void,
  ): void;
}

export type Query = <T>(text: string, values?: unknown[]) => Promise<T[]>;

/**
 * Plain statements on the same pool as TypeORM, for the hot paths (a post, a page of history, the
 * outbox). Skips TypeORM's QueryRunner per query, and lets a statement be prepared once per
 * connection (`name`), so Postgres parses and plans it once.
 */
@Injectable()
export class Db {
  private readonly pool: Pool;

  constructor(@InjectDataSource() dataSource: DataSource) {
    this.pool = (dataSource.driver as unknown as { master: Pool }).master;
  }

  /** One statement in autocommit. */
  async query<T>(text: string, values: unknown[] = [], name?: string): Promise<T[]> {
    const result = await this.pool.query(name ? { name, text, values } : { text, values });
    return result.rows as T[];
  }

  /** Runs `work` in one transaction on one connection; a connection that failed is not reused. */
  async transaction<T>(work: (query: Query) => Promise<T>): Promise<T> {
    const [client, release] = await new Promise<[PooledClient, (err?: Error) => void]>((resolve, reject) =>
      this.pool.connect((err, client, release) =>
        err || !client ? reject(err ?? new Error('no connection')) : resolve([client, release]),
      ),
    );
    const query: Query = async <R>(text: string, values: unknown[] = []) =>
      ((await client.query(text, values))?.rows ?? []) as R[];
    try {
      await query('BEGIN');
      const result = await work(query);
      await query('COMMIT');
      release();
      return result;
    } catch (err) {
      const rolledBack = await client.query('ROLLBACK').then(
        () => true,
        () => false,
      );
      release(rolledBack ? undefined : (err as Error));
      throw err;
    }
  }
}
