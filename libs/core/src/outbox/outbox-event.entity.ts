import { Column, CreateDateColumn, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * One domain event, written in the same transaction as the change that caused it. Immutable
 * apart from `published_at` (relay bookkeeping); kept 7 days after publishing so that webhook
 * delivery (its own table, keyed by this id) and redelivery can read it.
 */
@Entity('outbox')
@Index('outbox_unpublished_idx', ['id'], { where: 'published_at IS NULL' })
export class OutboxEvent {
  @PrimaryColumn({
    type: 'bigint',
    default: () => 'next_snowflake()',
    primaryKeyConstraintName: 'outbox_pkey',
  })
  id: string;

  @Column({ type: 'varchar', length: 64 })
  type: string;

  @Column({ name: 'channel_id', type: 'bigint' })
  channelId: string;

  @Column({ type: 'jsonb' })
  payload: unknown;

  /** Users who also get the event on `user:<id>` (e.g. someone who just joined or left). */
  @Column({ name: 'notify_user_ids', type: 'bigint', array: true })
  notifyUserIds: string[];

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column({ name: 'published_at', type: 'timestamptz', nullable: true })
  publishedAt: Date | null;
}
