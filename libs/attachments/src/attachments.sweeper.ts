import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { AppConfig, Db, describeError, OBJECT_STORAGE, type ObjectStoragePort } from '@cariosan/core';

/** Held (transaction-scoped, try-only) by the replica sweeping; the others skip their round. */
const SWEEP_LOCK = 7204817310985237;
/** Rows deleted per transaction; a round goes on while it fills batches. */
const BATCH = 200;
const MAX_EVERY_MS = 60_000;

/**
 * Deletes what no message holds: uploads never attached once the grace period has passed
 * (CARIOS_UPLOAD_GRACE_PERIOD), and the attachments of deleted messages the delete itself could
 * not remove (the store was down). Every replica tries; an advisory try-lock lets one at a time
 * work. Rows and objects go together: the rows are deleted in a transaction that commits only
 * once the store has deleted the objects, so a failure leaves both for the next round, and a
 * post attaching an upload at that moment waits for the row lock and then finds it gone (400).
 */
@Injectable()
export class AttachmentsSweeper implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('AttachmentsSweeper');
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;
  private readonly everyMs: number;

  constructor(
    private readonly db: Db,
    @Inject(OBJECT_STORAGE) private readonly storage: ObjectStoragePort,
    private readonly config: AppConfig,
  ) {
    this.everyMs = Math.min(MAX_EVERY_MS, Math.max(1000, Math.floor(config.uploadGracePeriodMs / 4)));
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.sweep(), this.everyMs * (0.9 + Math.random() * 0.2));
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** One round; resolves with the number of attachments deleted. Never throws. */
  sweep(): Promise<number> {
    this.running ??= this.round().finally(() => (this.running = undefined));
    return this.running;
  }

  private async round(): Promise<number> {
    let total = 0;
    try {
      for (;;) {
        const n = await this.batch();
        total += n;
        if (n < BATCH) break;
      }
      if (total > 0) this.logger.log(`deleted ${total} unattached or orphaned attachments`);
    } catch (err) {
      this.logger.warn(`attachment sweep failed, retrying later: ${describeError(err).message}`);
    }
    return total;
  }

  private batch(): Promise<number> {
    return this.db.transaction(async (query) => {
      const [lock] = await query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS ok', [SWEEP_LOCK]);
      if (!lock?.ok) return 0;
      const rows = await query<{ key: string }>(
        `DELETE FROM attachments WHERE id IN (
           SELECT id FROM attachments
            WHERE message_id IS NULL
              AND (attached_at IS NOT NULL OR created_at < now() - make_interval(secs => $1 / 1000.0))
            ORDER BY created_at LIMIT ${BATCH}
              FOR UPDATE SKIP LOCKED)
         RETURNING key`,
        [this.config.uploadGracePeriodMs],
      );
      if (rows.length > 0) await this.storage.delete(rows.map((r) => r.key));
      return rows.length;
    });
  }
}
