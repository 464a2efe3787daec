import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { User } from '@cariosan/users';

/**
 * An upload slot and, once attached, a message's attachment. The bytes live in object storage
 * under `key` (made by the server, never the client's filename).
 */
@Entity('attachments')
@Index('attachments_message_id_idx', ['messageId'])
@Index('attachments_unattached_idx', ['createdAt'], { where: 'message_id IS NULL' })
export class Attachment {
  @PrimaryColumn({
    type: 'bigint',
    default: () => 'next_snowflake()',
    primaryKeyConstraintName: 'attachments_pkey',
  })
  id: string;

  @Column({ name: 'owner_id', type: 'bigint' })
  ownerId: string;

  @ManyToOne(() => User, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'owner_id', foreignKeyConstraintName: 'attachments_owner_id_fkey' })
  owner?: User;

  @Column({ type: 'varchar', length: 128, unique: true })
  key: string;

  /** Sanitised; metadata only. */
  @Column({ type: 'varchar', length: 255 })
  filename: string;

  @Column({ name: 'content_type', type: 'varchar', length: 255 })
  contentType: string;

  @Column({ type: 'bigint' })
  size: string;

  /** Null before it is attached, and again once its message is deleted (then `attachedAt` stays set). */
  @Column({ name: 'message_id', type: 'bigint', nullable: true })
  messageId: string | null;

  // By name: the messages lib imports this one, not the other way round.
  @ManyToOne('Message', { onDelete: 'SET NULL' })
  @JoinColumn({ name: 'message_id', foreignKeyConstraintName: 'attachments_message_id_fkey' })
  message?: unknown;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column({ name: 'attached_at', type: 'timestamptz', nullable: true })
  attachedAt: Date | null;
}
