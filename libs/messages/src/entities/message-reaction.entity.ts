import { CreateDateColumn, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { User } from '@cariosan/users';
import { Message } from './message.entity';

/** One user's reaction with one emoji to one message. */
@Entity('message_reactions')
export class MessageReaction {
  @PrimaryColumn({ name: 'message_id', type: 'bigint', primaryKeyConstraintName: 'message_reactions_pkey' })
  messageId: string;

  @PrimaryColumn({ type: 'varchar', length: 32, primaryKeyConstraintName: 'message_reactions_pkey' })
  emoji: string;

  @PrimaryColumn({ name: 'user_id', type: 'bigint', primaryKeyConstraintName: 'message_reactions_pkey' })
  userId: string;

  @ManyToOne(() => Message, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'message_id', foreignKeyConstraintName: 'message_reactions_message_id_fkey' })
  message?: Message;

  @ManyToOne(() => User, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id', foreignKeyConstraintName: 'message_reactions_user_id_fkey' })
  user?: User;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
