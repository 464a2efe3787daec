import { Column, CreateDateColumn, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { User } from './user.entity';

/**
 * A single-use, expiring code that lets one person register while `CARIOS_REGISTRATION=invite`.
 * Like tokens, only the SHA-256 of the code is stored: the code itself is shown once, at creation.
 */
@Entity('invites')
export class Invite {
  @PrimaryColumn({ type: 'bigint', default: () => 'next_snowflake()' })
  id: string;

  @Column({ name: 'code_hash', type: 'bytea', unique: true })
  codeHash: Buffer;

  /** Null when created from the shell (`admin invite`) or once its creator is deleted. */
  @Column({ name: 'created_by', type: 'bigint', nullable: true })
  createdBy: string | null;

  @ManyToOne(() => User, { onDelete: 'SET NULL' })
  @JoinColumn({ name: 'created_by', foreignKeyConstraintName: 'invites_created_by_fkey' })
  creator?: User;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt: Date;

  @Column({ name: 'used_at', type: 'timestamptz', nullable: true })
  usedAt: Date | null;

  @Column({ name: 'used_by', type: 'bigint', nullable: true })
  usedBy: string | null;

  @ManyToOne(() => User, { onDelete: 'SET NULL' })
  @JoinColumn({ name: 'used_by', foreignKeyConstraintName: 'invites_used_by_fkey' })
  user?: User;
}
