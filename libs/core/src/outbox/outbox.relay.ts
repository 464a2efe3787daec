import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { DomainEvent, DomainEventType } from '../events/domain-events';
import { SNOWFLAKE_EPOCH_MS } from '../ids/ids';
import { BUS, BusPort } from '../ports/bus.port';

/** One relay publishes at a time in the whole cluster, so each channel's events go out in id order. */
const RELAY_LOCK_KEY = '7204817310985235';
const BATCH = 500;
const POLL_MS = 250;
const RETENTION_MS = 7 * 86_400_000;
const CLEANUP_EVERY_MS = 10 * 60_000;

interface OutboxRow {
  id: string;
  type: DomainEventType;
  channel_id: string;
  payload: unknown;
  notify_user_ids: string[];
  created_at: Date | string;
}

export function channelTopic(channelId: string): string {
  return `channel:${channelId}`;
}

export function userTopic(userId: string): string {
  return `user:${userId}`;
}

/** The smallest Snowflake id minted at `time`: rows with smaller ids are older. */
export function snowflakeAt(time: number): string {
  return (BigInt(Math.max(0, time - SNOWFLAKE_EPOCH_MS)) << 22n).toString();
}

/**
 * Publishes committed outbox rows to the bus. Writers poke it after their commit; every
 * replica also polls, so rows written by a replica that died before publishing still go out.
 */
@Injectable()
export class OutboxRelay implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('OutboxRelay');
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private lastCleanup = 0;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(BUS) private readonly bus: BusPort,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => this.poke(), POLL_MS);
    this.timer.unref();
    this.poke();
  }

  /** Before any module shuts down: the round in flight finishes while the database is still there. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** Asks for a publishing round now; rounds never overlap within a process. */
  poke(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.loop().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.poke();
      }
    });
  }

  private async loop(): Promise<void> {
    try {
      for (;;) {
        const { published, busy } = await this.publishBatch();
        if (busy) {
          // Another replica is publishing; it may have missed our rows, so look again shortly.
          setTimeout(() => this.poke(), 25).unref();
          break;
        }
        if (published < BATCH || this.stopped) break;
      }
      await this.cleanupIfDue();
    } catch (err) {
      // The rows stay unpublished and the next round retries them.
      this.logger.warn(`publishing failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** Claims a batch, publishes it, marks it published; any failure rolls back so the rows are retried. */
  async publishBatch(): Promise<{ published: number; busy: boolean }> {
    return this.dataSource.transaction(async (em) => {
      const [lock] = await em.query<{ locked: boolean }[]>('SELECT pg_try_advisory_xact_lock($1) AS locked', [
        RELAY_LOCK_KEY,
      ]);
      if (!lock?.locked) return { published: 0, busy: true };
      const rows = await em.query<OutboxRow[]>(
        `SELECT id, type, channel_id, payload, notify_user_ids::text[] AS notify_user_ids, created_at
           FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT ${BATCH} FOR UPDATE SKIP LOCKED`,
      );
      if (rows.length === 0) return { published: 0, busy: false };
      // Issued back to back without waiting for each reply: the bus keeps the order of calls
      // (one Redis connection), and the round trips overlap instead of adding up.
      const published: Promise<void>[] = [];
      for (const row of rows) {
        const event: DomainEvent = {
          id: row.id,
          type: row.type,
          channelId: row.channel_id,
          data: row.payload as DomainEvent['data'],
          createdAt: new Date(row.created_at).toISOString(),
        };
        const json = JSON.stringify(event);
        published.push(this.bus.publish(channelTopic(row.channel_id), json));
        for (const userId of row.notify_user_ids ?? [])
          published.push(this.bus.publish(userTopic(userId), json));
      }
      await Promise.all(published);
      await em.query('UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])', [
        `{${rows.map((r) => r.id).join(',')}}`,
      ]);
      return { published: rows.length, busy: false };
    });
  }

  /** Published events are kept 7 days (webhook redelivery reads them), then deleted. */
  private async cleanupIfDue(): Promise<void> {
    if (Date.now() - this.lastCleanup < CLEANUP_EVERY_MS) return;
    this.lastCleanup = Date.now();
    await this.dataSource.query('DELETE FROM outbox WHERE id < $1 AND published_at IS NOT NULL', [
      snowflakeAt(Date.now() - RETENTION_MS),
    ]);
  }
}
