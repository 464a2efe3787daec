import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Db } from '../database/db.service';
import { describeError } from '../errors/outage';

/** Events are kept this long (gateway catch-up and resume read them), then dropped a day at a time. */
export const OUTBOX_RETENTION_DAYS = 7;
/** Partitions exist this many days ahead, so inserts never wait for one. */
const PARTITIONS_AHEAD_DAYS = 3;
const MAINTAIN_EVERY_MS = 10 * 60_000;

/**
 * Retention that scales: the outbox is partitioned by id range, one partition per day (ids are
 * time-based). Every replica asks for maintenance at boot and every ten minutes; the SQL
 * function `outbox_maintain` lets one of them at a time (advisory try-lock) create the coming
 * days' partitions and drop the ones past retention. Dropping a partition is one short lock,
 * where a DELETE of a day of events would scan, lock and bloat.
 */
@Injectable()
export class OutboxRetention implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('OutboxRetention');
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly db: Db) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.maintain();
    this.timer = setInterval(() => void this.maintain(), MAINTAIN_EVERY_MS * (0.9 + Math.random() * 0.2));
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Never throws: a failed round is retried at the next one (partitions exist days ahead). */
  async maintain(): Promise<void> {
    try {
      const [row] = await this.db.query<{ result: string }>('SELECT outbox_maintain($1, $2) AS result', [
        OUTBOX_RETENTION_DAYS,
        PARTITIONS_AHEAD_DAYS,
      ]);
      const result = row?.result ?? '';
      if (/created [1-9]|dropped [1-9]|postponed [1-9]/.test(result))
        this.logger.log(`outbox partitions: ${result}`);
    } catch (err) {
      this.logger.warn(`outbox maintenance failed, retrying later: ${describeError(err).message}`);
    }
  }
}
