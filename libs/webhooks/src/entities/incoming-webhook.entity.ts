import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { Channel } from '@cariosan/channels';
import { User } from '@cariosan/users';

/** An incoming webhook: `POST /hooks/:id/:token` posts into its channel as its own bot user. */
@Entity('incoming_webhooks')
@Index('incoming_webhooks_channel_id_id_idx', ['channelId', 'id'])
export class IncomingWebhook {
  @PrimaryColumn({
    type: 'bigint',
    default: () => 'next_snowflake()',
    primaryKeyConstraintName: 'incoming_webhooks_pkey',
  })
  id: string;

  @Column({ name: 'channel_id', type: 'bigint' })
  channelId: string;

  @ManyToOne(() => Channel, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'channel_id', foreignKeyConstraintName: 'incoming_webhooks_channel_id_fkey' })
  channel?: Channel;

  @Column({ name: 'bot_user_id', type: 'bigint' })
  botUserId: string;

  @ManyToOne(() => User, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'bot_user_id', foreignKeyConstraintName: 'incoming_webhooks_bot_user_id_fkey' })
  botUser?: User;

  @Column({ type: 'varchar', length: 80 })
  name: string;

  /** SHA-256 of the token; the token itself is shown once, at creation. */
  @Column({ name: 'token_hash', type: 'bytea' })
  tokenHash: Buffer;

  @Column({ name: 'created_by', type: 'bigint', nullable: true })
  createdBy: string | null;

  @ManyToOne(() => User, { onDelete: 'SET NULL' })
  @JoinColumn({ name: 'created_by', foreignKeyConstraintName: 'incoming_webhooks_created_by_fkey' })
  creator?: User;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
