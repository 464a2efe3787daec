import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { User } from '@cariosan/users';
import type { ChannelKind } from '@cariosan/core';

@Entity('channels')
@Index('channels_kind_id_idx', ['kind', 'id'])
export class Channel {
  @PrimaryColumn({
    type: 'bigint',
    default: () => 'next_snowflake()',
    primaryKeyConstraintName: 'channels_pkey',
  })
  id: string;

  /** 1-80 code points, NFC, trimmed (for direct channels: the members' usernames). */
  @Column({ type: 'varchar', length: 80 })
  name: string;

  @Column({ type: 'varchar', length: 16 })
  kind: ChannelKind;

  @Column({ type: 'varchar', length: 250, default: '' })
  topic: string;

  /** Null for direct channels, and once the owner leaves or is removed. */
  @Column({ name: 'owner_id', type: 'bigint', nullable: true })
  ownerId: string | null;

  @ManyToOne(() => User, { onDelete: 'SET NULL' })
  @JoinColumn({ name: 'owner_id', foreignKeyConstraintName: 'channels_owner_id_fkey' })
  owner?: User;

  @Column({ name: 'archived_at', type: 'timestamptz', nullable: true })
  archivedAt: Date | null;

  /** Direct channels only: the members' ids sorted and joined with ",", unique. */
  @Index('channels_dm_key_key', { unique: true })
  @Column({ name: 'dm_key', type: 'varchar', length: 255, nullable: true })
  dmKey: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  /**
   * The seq of the channel's latest event. Incremented by every event of the channel in its
   * write's transaction; locking this row is the channel's write lock.
   */
  @Column({ name: 'last_seq', type: 'bigint', default: 0 })
  lastSeq: string;
}
