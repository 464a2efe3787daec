import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { WebhookDelivery } from './webhook-delivery.entity';

/** The delivery log: one row per attempt (`GET /webhooks/:id/deliveries`). */
@Entity('webhook_attempts')
@Index('webhook_attempts_webhook_id_id_idx', ['webhookId', 'id'])
@Index('webhook_attempts_delivery_id_idx', ['deliveryId'])
export class WebhookAttempt {
  @PrimaryColumn({
    type: 'bigint',
    default: () => 'next_snowflake()',
    primaryKeyConstraintName: 'webhook_attempts_pkey',
  })
  id: string;

  @Column({ name: 'webhook_id', type: 'bigint' })
  webhookId: string;

  @Column({ name: 'delivery_id', type: 'bigint' })
  deliveryId: string;

  @ManyToOne(() => WebhookDelivery, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'delivery_id', foreignKeyConstraintName: 'webhook_attempts_delivery_id_fkey' })
  delivery?: WebhookDelivery;

  @Column({ name: 'event_id', type: 'bigint' })
  eventId: string;

  @Column({ type: 'varchar', length: 64 })
  type: string;

  @Column({ type: 'integer' })
  attempt: number;

  /** delivered | failed | refused | timeout | skipped */
  @Column({ type: 'varchar', length: 16 })
  status: string;

  @Column({ name: 'response_status', type: 'integer', nullable: true })
  responseStatus: number | null;

  @Column({ type: 'text', nullable: true })
  error: string | null;

  @Column({ name: 'duration_ms', type: 'integer' })
  durationMs: number;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
