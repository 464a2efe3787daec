import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { User } from '@cariosan/users';
import { Channel } from './channel.entity';

export type MemberRole = 'owner' | 'member';

@Entity('channel_members')
export class ChannelMember {
  @PrimaryColumn({ name: 'channel_id', type: 'bigint', primaryKeyConstraintName: 'channel_members_pkey' })
  channelId: string;

  @Index('channel_members_user_id_idx')
  @PrimaryColumn({ name: 'user_id', type: 'bigint', primaryKeyConstraintName: 'channel_members_pkey' })
  userId: string;

  @ManyToOne(() => Channel, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'channel_id', foreignKeyConstraintName: 'channel_members_channel_id_fkey' })
  channel?: Channel;

  @ManyToOne(() => User, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id', foreignKeyConstraintName: 'channel_members_user_id_fkey' })
  user?: User;

  @Column({ type: 'varchar', length: 16, default: 'member' })
  role: MemberRole;

  @CreateDateColumn({ name: 'joined_at', type: 'timestamptz' })
  joinedAt: Date;

  /** The newest message this member has read; drives `unreadCount`. */
  @Column({ name: 'last_read_message_id', type: 'bigint', nullable: true })
  lastReadMessageId: string | null;
}
