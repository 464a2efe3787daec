import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { Channel } from '@cariosan/channels';
import { User } from '@cariosan/users';

@Entity('messages')
@Index('messages_channel_id_id_idx', ['channelId', 'id'])
@Index('messages_parent_id_id_idx', ['parentId', 'id'])
@Index('messages_author_channel_nonce_key', ['authorId', 'channelId', 'nonce'], {
  unique: true,
  where: 'nonce IS NOT NULL',
})
export class Message {
  @PrimaryColumn({
    type: 'bigint',
    default: () => 'next_snowflake()',
    primaryKeyConstraintName: 'messages_pkey',
  })
  id: string;

  @Column({ name: 'channel_id', type: 'bigint' })
  channelId: string;

  @ManyToOne(() => Channel, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'channel_id', foreignKeyConstraintName: 'messages_channel_id_fkey' })
  channel?: Channel;

  @Column({ name: 'author_id', type: 'bigint' })
  authorId: string;

  @ManyToOne(() => User, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'author_id', foreignKeyConstraintName: 'messages_author_id_fkey' })
  author?: User;

  /** NFC, 0-4000 code points (empty only with attachments). */
  @Column({ type: 'text' })
  content: string;

  /** Client idempotency key, unique per (author, channel). */
  @Column({ type: 'varchar', length: 64, nullable: true })
  nonce: string | null;

  /** Thread root (always a top-level message of the same channel). */
  @Column({ name: 'parent_id', type: 'bigint', nullable: true })
  parentId: string | null;

  @ManyToOne(() => Message, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'parent_id', foreignKeyConstraintName: 'messages_parent_id_fkey' })
  parent?: Message;

  /** Ids of the channel members mentioned with @username, in order of first mention. */
  @Column({ type: 'bigint', array: true })
  mentions: string[];

  /**
   * The attachments as the view shows them, with the object key instead of a URL:
   * `[{id, filename, contentType, size, key}]` (URLs are signed when the message leaves the server).
   */
  @Column({ type: 'jsonb', default: () => "'[]'" })
  attachments: unknown[];

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column({ name: 'edited_at', type: 'timestamptz', nullable: true })
  editedAt: Date | null;
}
