import { BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import { Db } from '../database/db.service';
import { describeError } from '../errors/outage';
import { BUS, BusPort } from '../ports/bus.port';
import type { CommittedEvent } from './committed-event';
import { bigintArray } from '../database/query-rows';
import { channelTopic, userTopic } from './topics';

/** A request waits at most this long for the bus to take its events; the sweeper covers the rest. */
const PUBLISH_WAIT_MS = 250;
/** Published events are struck off `outbox_pending` in batches: at most this many... */
const MARK_BATCH = 500;
/** ...or after this long. */
const MARK_EVERY_MS = 50;

/**
 * Puts committed events on the bus right after their commit, from the replica that wrote them
 * (no relay leader), and strikes them off `outbox_pending` in batches, one statement for many
 * events. What fails to go out stays pending and OutboxSweeper publishes it a second later.
 */
@Injectable()
export class OutboxPublisher implements BeforeApplicationShutdown {
  private readonly logger = new Logger('OutboxPublisher');
  private published: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private failing = false;
  private readonly committedListeners: (() => void)[] = [];

  constructor(
    private readonly db: Db,
    @Inject(BUS) private readonly bus: BusPort,
  ) {}

  /**
   * Publishes events in the order given (one bus connection keeps the order of calls). Resolves
   * when the bus took them, or after a short wait if it does not answer; never rejects: the
   * events are committed, and the sweeper publishes whatever did not go out.
   */
  publish(events: readonly CommittedEvent[]): Promise<void> {
    if (events.length === 0) return Promise.resolve();
    for (const listener of this.committedListeners) listener();
    const sent = this.send(events).then(
      () => {
        if (this.failing) this.logger.log('bus takes events again');
        this.failing = false;
        this.markPublished(events);
      },
      (err: unknown) => {
        if (!this.failing)
          this.logger.warn(`publishing failed, the sweeper will retry: ${describeError(err).message}`);
        this.failing = true;
      },
    );
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, PUBLISH_WAIT_MS);
    });
    return Promise.race([sent, waited]).finally(() => clearTimeout(timer));
  }

  /**
   * Called after each commit of events in this replica, before they are published: lets
   * consumers of the stored events (webhook workers) look at once instead of at their next poll.
   */
  onCommitted(listener: () => void): void {
    this.committedListeners.push(listener);
  }

  /** Publishes on the bus and waits for every acknowledgement; rejects if one fails. */
  async send(events: readonly CommittedEvent[]): Promise<void> {
    const calls: Promise<void>[] = [];
    for (const e of events) {
      calls.push(this.bus.publish(channelTopic(e.channelId), e.json));
      for (const userId of e.notifyUserIds) calls.push(this.bus.publish(userTopic(userId), e.json));
    }
    await Promise.all(calls);
  }

  async beforeApplicationShutdown(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  private markPublished(events: readonly CommittedEvent[]): void {
    for (const e of events) this.published.push(e.id);
    if (this.published.length >= MARK_BATCH) {
      void this.flush();
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, MARK_EVERY_MS);
      this.timer.unref();
    }
  }

  /** One DELETE for everything published since the last one; flushes never overlap. */
  private flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.published.length === 0) return;
      const ids = this.published;
      this.published = [];
      try {
        await this.db.query('DELETE FROM outbox_pending WHERE id = ANY($1::bigint[])', [bigintArray(ids)]);
      } catch (err) {
        // The rows stay pending: the sweeper publishes them once more (consumers dedupe by id).
        this.logger.warn(`marking ${ids.length} events published failed: ${describeError(err).message}`);
      }
    });
    return this.flushing;
  }
}
