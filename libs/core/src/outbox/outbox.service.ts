import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import type { DomainEventMap, DomainEventType } from '../events/domain-events';
import { OutboxRelay } from './outbox.relay';

/** Namespace of the per-channel write lock (two-int advisory keys live apart from one-bigint keys). */
const CHANNEL_LOCK_NAMESPACE = 7204;

/** Renders ids as a Postgres array literal; ids are decimal digits, so nothing needs quoting. */
export function bigintArray(ids: readonly string[]): string {
  return `{${ids.join(',')}}`;
}

/**
 * Writes domain events into the outbox inside the caller's transaction, and runs write
 * transactions that wake the relay once they commit.
 */
@Injectable()
export class OutboxService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly relay: OutboxRelay,
  ) {}

  /** Runs `work` in one transaction; after the commit the relay publishes what it wrote at once. */
  async transaction<T>(work: (em: EntityManager) => Promise<T>): Promise<T> {
    const result = await this.dataSource.transaction(work);
    this.relay.poke();
    return result;
  }

  /**
   * Serialises the writes of one channel until the transaction ends, so ids minted inside
   * (messages, events) commit in id order and readers and the relay never skip one.
   */
  async lockChannel(em: EntityManager, channelId: string): Promise<void> {
    await em.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [CHANNEL_LOCK_NAMESPACE, channelId]);
  }

  /** Appends an event to the outbox; it commits (or not) with the caller's transaction. */
  async append<T extends DomainEventType>(
    em: EntityManager,
    type: T,
    channelId: string,
    data: DomainEventMap[T],
    notifyUserIds: readonly string[] = [],
  ): Promise<string> {
    const rows = await em.query<{ id: string }[]>(
      `INSERT INTO outbox (type, channel_id, payload, notify_user_ids) VALUES ($1, $2, $3::jsonb, $4::bigint[]) RETURNING id`,
      [type, channelId, JSON.stringify(data), bigintArray([...new Set(notifyUserIds)])],
    );
    return rows[0]!.id;
  }
}
