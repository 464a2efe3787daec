import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { bigintArray } from '../database/query-rows';
import type { DomainEventMap, DomainEventType } from '../events/domain-events';
import { ChannelWriteQueue } from './channel-write-queue';
import { eventJson, type CommittedEvent } from './committed-event';
import { OutboxPublisher } from './outbox-publisher';

/**
 * Writes domain events into the outbox inside the caller's transaction (through the SQL function
 * `append_event`, which gives each its channel's next seq), and runs write transactions that
 * publish their events once they commit.
 */
@Injectable()
export class OutboxService {
  /** Events appended in each open transaction, keyed by its entity manager. */
  private readonly appended = new WeakMap<EntityManager, CommittedEvent[]>();

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly publisher: OutboxPublisher,
    private readonly writes: ChannelWriteQueue,
  ) {}

  /** Runs `work` in one transaction; after the commit, publishes the events it appended. */
  async transaction<T>(work: (em: EntityManager) => Promise<T>): Promise<T> {
    let events: CommittedEvent[] = [];
    const result = await this.dataSource.transaction(async (em) => {
      events = [];
      this.appended.set(em, events);
      return work(em);
    });
    await this.publisher.publish(events);
    return result;
  }

  /**
   * A write transaction on one channel, queued behind this replica's other writes to it (see
   * ChannelWriteQueue). The transaction must take the channel's lock (its row, FOR NO KEY
   * UPDATE) before it reads what it decides on.
   */
  channelTransaction<T>(channelId: string, work: (em: EntityManager) => Promise<T>): Promise<T> {
    return this.writes.run(channelId, () => this.transaction(work));
  }

  /** Appends an event to the outbox; it commits (or not) with the caller's transaction. */
  async append<T extends DomainEventType>(
    em: EntityManager,
    type: T,
    channelId: string,
    data: DomainEventMap[T],
    notifyUserIds: readonly string[] = [],
  ): Promise<string> {
    const notify = [...new Set(notifyUserIds)];
    const dataJson = JSON.stringify(data);
    const [row] = await em.query<{ event_id: string; event_seq: string; event_created_at: Date | string }[]>(
      'SELECT event_id::text, event_seq::text, event_created_at FROM append_event($1, $2, $3::json, $4::bigint[])',
      [channelId, type, dataJson, bigintArray(notify)],
    );
    const id = row!.event_id;
    const json = eventJson(
      id,
      type,
      channelId,
      Number(row!.event_seq),
      dataJson,
      new Date(row!.event_created_at).toISOString(),
    );
    this.appended.get(em)?.push({ id, channelId, json, notifyUserIds: notify });
    return id;
  }

  /** Publishes events committed outside `transaction` (a post's single statement). */
  publish(events: readonly CommittedEvent[]): Promise<void> {
    return this.publisher.publish(events);
  }
}
