import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { User } from '@cariosan/users';

/** An outgoing webhook: where to deliver which events, the secrets that sign them, and its health. */
@Entity('webhooks')
@Index('webhooks_owner_id_id_idx', ['ownerId', 'id'])
export class Webhook {
  @PrimaryColumn({
    type: 'bigint',
    default: () => 'next_snowflake()',
    primaryKeyConstraintName: 'webhooks_pkey',
  })
  id: string;

  @Column({ name: 'owner_id', type: 'bigint' })
  ownerId: string;

  @ManyToOne(() => User, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'owner_id', foreignKeyConstraintName: 'webhooks_owner_id_fkey' })
  owner?: User;

  @Column({ type: 'varchar', length: 2048 })
  url: string;

  /** Subscribed event types (WEBHOOK_EVENT_TYPES). */
  @Column({ type: 'text', array: true })
  events: string[];

  /** Only these channels; null: every channel the owner is a member of. */
  @Column({ name: 'channel_ids', type: 'bigint', array: true, nullable: true })
  channelIds: string[] | null;

  @Column({ type: 'varchar', length: 500, default: '' })
  description: string;

  /** `whsec_...`, sealed when CARIOS_WEBHOOK_SECRET_KEY is set (see SecretBox). */
  @Column({ type: 'text' })
  secret: string;

  /** The secret before the last rotation: it keeps signing until previous_secret_until. */
  @Column({ name: 'previous_secret', type: 'text', nullable: true })
  previousSecret: string | null;

  @Column({ name: 'previous_secret_until', type: 'timestamptz', nullable: true })
  previousSecretUntil: Date | null;

  @Column({ type: 'boolean', default: true })
  enabled: boolean;

  /** Why the server disabled it (410, or failing for CARIOS_WEBHOOK_DISABLE_AFTER); null when the owner did. */
  @Column({ name: 'disabled_reason', type: 'text', nullable: true })
  disabledReason: string | null;

  /** Start of the current run of failed attempts; null while healthy. */
  @Column({ name: 'failing_since', type: 'timestamptz', nullable: true })
  failingSince: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
