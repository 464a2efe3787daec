import { Column, CreateDateColumn, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * One domain event, written in the same transaction as the change that caused it, by the SQL
 * function `store_event` (see migrations/1764300000000-write-path.ts). Immutable. The table is
 * partitioned by id range, one partition per day; partitions older than the retention are
 * dropped whole (OutboxRetention). Webhook deliveries keep their own copy of what they need.
 */
@Entity('outbox')
@Index('outbox_channel_id_seq_idx', ['channelId', 'seq'])
export class OutboxEvent {
  /** A Snowflake minted inside the channel's lock: per channel, id order is seq order. */
  @PrimaryColumn({ type: 'bigint', primaryKeyConstraintName: 'outbox_pkey' })
  id: string;

  @Column({ name: 'channel_id', type: 'bigint' })
  channelId: string;

  /** The event's place in its channel: 1, 2, 3... without gaps (from `channels.last_seq`). */
  @Column({ type: 'bigint' })
  seq: string;

  @Column({ type: 'varchar', length: 64 })
  type: string;

  /** The event's `data` as JSON text, passed through to consumers as written. */
  @Column({ type: 'json' })
  payload: unknown;

  /** Users who also get the event on `user:<id>` (e.g. someone who just joined or left). */
  @Column({ name: 'notify_user_ids', type: 'bigint', array: true })
  notifyUserIds: string[];

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}

/**
 * Events committed but not yet known to be on the bus. The writer deletes its rows once it has
 * published them; the sweeper publishes (and deletes) what a writer left behind.
 */
@Entity('outbox_pending')
export class OutboxPending {
  @PrimaryColumn({ type: 'bigint', primaryKeyConstraintName: 'outbox_pending_pkey' })
  id: string;
}
