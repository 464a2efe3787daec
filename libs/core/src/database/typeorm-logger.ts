import { Logger as NestLogger } from '@nestjs/common';
import type { Logger, QueryRunner } from 'typeorm';

/** A statement for the log: its first line, shortened. Parameters are never logged (they carry token hashes). */
function statement(query: string): string {
  const flat = query.replace(/\s+/g, ' ').trim();
  return flat.length > 120 ? `${flat.slice(0, 117)}...` : flat;
}

/**
 * TypeORM's logging through the application's (JSON, pino) logger. TypeORM's own loggers print
 * plain text, and print a failed query's parameters, which may be token hashes or message text.
 * A failed query is not an event of its own: the request's error handling reports what matters.
 */
export class TypeOrmLogger implements Logger {
  private readonly logger = new NestLogger('TypeORM');

  /** `reportSchemaSteps`: say which migration ran or was reverted (the migration CLI, for the operator). */
  constructor(private readonly reportSchemaSteps = false) {}

  logQuery(): void {}

  logQueryError(error: string | Error, query: string, _parameters?: unknown[], _runner?: QueryRunner): void {
    const e = error as { message?: string; code?: string };
    this.logger.debug(
      `query failed (${e.code ?? 'no code'}): ${e.message ?? String(error)} in ${statement(query)}`,
    );
  }

  logQuerySlow(time: number, query: string): void {
    this.logger.warn(`slow query (${time} ms): ${statement(query)}`);
  }

  /** TypeORM reports each migration applied or reverted here. */
  logSchemaBuild(message: string): void {
    if (this.reportSchemaSteps) this.logger.log(message);
  }

  /** DatabaseModule reports which migrations ran, once; TypeORM's own steps are noise. */
  logMigration(): void {}

  log(level: 'log' | 'info' | 'warn', message: unknown): void {
    if (level === 'warn') this.logger.warn(String(message));
  }
}
