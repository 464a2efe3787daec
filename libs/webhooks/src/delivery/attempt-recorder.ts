import { Injectable, Logger } from '@nestjs/common';
import { describeError } from '@cariosan/core';
import { AttemptRecord, DeliveryStore } from './delivery-store';

/** Results held while Postgres does not answer; past this, the oldest are dropped (their leases expire and they are retried). */
const MAX_HELD = 20_000;

/**
 * Writes attempts' results in batches: whatever finished while the previous batch was being
 * written goes in the next statement, so statements per delivery fall as the load grows. A batch
 * that fails is kept and written again; a result never written only means its delivery is
 * attempted again once its lease expires (at least once, same webhook-id).
 */
@Injectable()
export class AttemptRecorder {
  private readonly logger = new Logger('WebhookRecorder');
  private queue: AttemptRecord[] = [];
  private flushing: Promise<void> | undefined;
  private failing = false;
  private readonly listeners: (() => void)[] = [];

  constructor(private readonly store: DeliveryStore) {}

  /** Called after every written batch (later deliveries of the same channels may be due now). */
  onWritten(listener: () => void): void {
    this.listeners.push(listener);
  }

  add(record: AttemptRecord): void {
    this.queue.push(record);
    if (this.queue.length > MAX_HELD) this.queue.splice(0, this.queue.length - MAX_HELD);
    this.flushing ??= this.flush().finally(() => (this.flushing = undefined));
  }

  /** Resolves when everything added so far is written (or failed to be, for now). */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.queue.length) {
      this.flushing = this.flush().finally(() => (this.flushing = undefined));
      await this.flushing;
    }
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, 500);
      try {
        await this.store.record(batch);
        if (this.failing) this.logger.log('recording webhook attempts works again');
        this.failing = false;
        for (const l of this.listeners) l();
      } catch (err) {
        if (!this.failing)
          this.logger.warn(`recording webhook attempts failed, retrying: ${describeError(err).message}`);
        this.failing = true;
        this.queue.unshift(...batch);
        await new Promise((r) => setTimeout(r, 500).unref());
        return this.flush();
      }
    }
  }
}
