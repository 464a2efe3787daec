import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn, Unique } from 'typeorm';
import { Webhook } from './webhook.entity';

export type DeliveryStatus = 'pending' | 'delivered' | 'failed' | 'skipped';

/**
 * One event for one endpoint, written by store_event in the event's transaction with a copy of
 * the payload (it outlives the outbox). Workers claim due pending rows with a lease.
 */
@Entity('webhook_deliveries')
@Unique('webhook_deliveries_webhook_id_event_id_key', ['webhookId', 'eventId'])
@Index('webhook_deliveries_due_idx', ['webhookId', 'nextAttemptAt'], { where: "status = 'pending'" })
@Index('webhook_deliveries_queue_idx', ['webhookId', 'channelId', 'seq'], { where: "status = 'pending'" })
@Index('webhook_deliveries_pending_created_idx', ['createdAt'], { where: "status = 'pending'" })
export class WebhookDelivery {
  @PrimaryColumn({
    type: 'bigint',
    default: () => 'next_snowflake()',
    primaryKeyConstraintName: 'webhook_deliveries_pkey',
  })
  id: string;

  @Column({ name: 'webhook_id', type: 'bigint' })
  webhookId: string;

  @ManyToOne(() => Webhook, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'webhook_id', foreignKeyConstraintName: 'webhook_deliveries_webhook_id_fkey' })
  webhook?: Webhook;

  /** The outbox event's id: the `webhook-id` header on every attempt. */
  @Column({ name: 'event_id', type: 'bigint' })
  eventId: string;

  @Column({ name: 'channel_id', type: 'bigint' })
  channelId: string;

  @Column({ type: 'bigint' })
  seq: string;

  @Column({ type: 'varchar', length: 64 })
  type: string;

  @Column({ type: 'json' })
  payload: unknown;

  @Column({ name: 'event_created_at', type: 'timestamptz' })
  eventCreatedAt: Date;

  @Column({ type: 'varchar', length: 16, default: 'pending' })
  status: DeliveryStatus;

  @Column({ type: 'integer', default: 0 })
  attempts: number;

  /** Failed attempts since the last success or redelivery: the place in the retry schedule. */
  @Column({ type: 'integer', default: 0 })
  failures: number;

  @Column({ name: 'next_attempt_at', type: 'timestamptz', default: () => 'now()' })
  nextAttemptAt: Date;

  /** A worker's claim; past it, another worker takes the row over. */
  @Column({ name: 'lease_until', type: 'timestamptz', nullable: true })
  leaseUntil: Date | null;

  @Column({ name: 'lease_token', type: 'varchar', length: 36, nullable: true })
  leaseToken: string | null;

  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt: Date;

  @Column({ name: 'updated_at', type: 'timestamptz', default: () => 'now()' })
  updatedAt: Date;
}
