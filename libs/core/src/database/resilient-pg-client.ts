import { Logger } from '@nestjs/common';
import { Client, type ClientConfig } from 'pg';

const logger = new Logger('Postgres');

/**
 * A node-postgres client that always listens for 'error'. pg-pool listens only while a client is
 * idle in the pool: a client that is checked out (between the statements of a transaction, or
 * held by a TypeORM QueryRunner) and whose backend is terminated emits 'error' with no listener,
 * which Node turns into an exception that kills the process. The failing query, if any, gets the
 * error itself; the pool drops the dead client when it is released.
 */
export class ResilientPgClient extends Client {
  constructor(config?: string | ClientConfig) {
    super(config);
    this.on('error', (err: Error & { code?: string }) => {
      logger.warn(`connection lost: ${err.message}${err.code ? ` (${err.code})` : ''}`);
    });
  }
}
