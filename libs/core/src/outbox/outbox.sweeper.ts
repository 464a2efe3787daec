import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { Db } from '../database/db.service';
import { bigintArray } from '../database/query-rows';
import type { DomainEventType } from '../events/domain-events';
import { describeError } from '../errors/outage';
import { eventJson, type CommittedEvent } from './committed-event';
import { OutboxPublisher } from './outbox-publisher';

/** An idle replica runs one cheap statement per sweep: well under one per second. */
const SWEEP_EVERY_MS = 1250;
const BATCH = 500;

interface PendingRow {
  pending_id: string;
  id: string | null;
  type: DomainEventType;
  channel_id: string;
  seq: string;
  payload: string;
  notify_user_ids: string[];
  created_at: string;
}

/** Rows left pending for over a second: their writer died between commit and publish, or the bus failed. */
const DUE = `outbox_pending.id < snowflake_at(now() - interval '1 second')`;

/**
 * Runs in every replica: publishes events that were committed but left pending for more than a
 * second. Claims rows with FOR UPDATE SKIP LOCKED, so replicas sweeping at once share the work,
 * publishes them, and strikes them off in the same transaction; a failure leaves them pending.
 */
@Injectable()
export class OutboxSweeper implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('OutboxSweeper');
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private failing = false;

  constructor(
    private readonly db: Db,
    private readonly publisher: OutboxPublisher,
  ) {}

  onApplicationBootstrap(): void {
    this.schedule();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** One sweep now (also for tests and the shutdown path); resolves with the number of events published. */
  async sweep(): Promise<number> {
    const [due] = await this.db.query<{ due: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM outbox_pending WHERE ${DUE}) AS due`,
      [],
      'outbox_sweep_due',
    );
    if (!due?.due) return 0;
    let total = 0;
    for (;;) {
      const n = await this.db.transaction(async (query) => {
        const rows = await query<PendingRow>(
          `SELECT outbox_pending.id::text AS pending_id, o.id::text AS id, o.type, o.channel_id::text AS channel_id,
                  o.seq::text AS seq, o.payload::text AS payload, o.notify_user_ids::text[] AS notify_user_ids,
                  to_char(o.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created_at
             FROM outbox_pending LEFT JOIN outbox o ON o.id = outbox_pending.id
            WHERE ${DUE}
            ORDER BY outbox_pending.id LIMIT ${BATCH}
              FOR UPDATE OF outbox_pending SKIP LOCKED`,
        );
        if (rows.length === 0) return 0;
        // A pending id whose event is gone (dropped with its partition) has nothing left to publish.
        const events: CommittedEvent[] = rows
          .filter((r) => r.id !== null)
          .map((r) => ({
            id: r.id!,
            channelId: r.channel_id,
            json: eventJson(r.id!, r.type, r.channel_id, Number(r.seq), r.payload, r.created_at),
            notifyUserIds: r.notify_user_ids ?? [],
          }));
        await this.publisher.send(events);
        await query('DELETE FROM outbox_pending WHERE id = ANY($1::bigint[])', [
          bigintArray(rows.map((r) => r.pending_id)),
        ]);
        return rows.length;
      });
      total += n;
      if (n < BATCH || this.stopped) return total;
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    // Jittered, so replicas started together do not sweep in lockstep.
    const delay = SWEEP_EVERY_MS * (0.9 + Math.random() * 0.2);
    this.timer = setTimeout(() => {
      this.running = this.sweep()
        .then((n) => {
          if (n > 0) this.logger.log(`published ${n} events left pending`);
          if (this.failing) this.logger.log('sweeping works again');
          this.failing = false;
        })
        .catch((err: unknown) => {
          if (!this.failing) this.logger.warn(`sweep failed, retrying: ${describeError(err).message}`);
          this.failing = true;
        })
        .finally(() => {
          this.running = undefined;
          this.schedule();
        });
    }, delay);
    this.timer.unref();
  }
}
