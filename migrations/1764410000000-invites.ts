import { MigrationInterface, QueryRunner } from 'typeorm';

/** Invite codes for CARIOS_REGISTRATION=invite (expand only: older releases never read this table). */
export class Invites1764410000000 implements MigrationInterface {
  name = 'Invites1764410000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE invites (
        id bigint NOT NULL DEFAULT next_snowflake(),
        code_hash bytea NOT NULL,
        created_by bigint,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        used_at timestamptz,
        used_by bigint,
        CONSTRAINT invites_pkey PRIMARY KEY (id),
        CONSTRAINT invites_code_hash_key UNIQUE (code_hash),
        CONSTRAINT invites_created_by_fkey FOREIGN KEY (created_by) REFERENCES users (id) ON DELETE SET NULL,
        CONSTRAINT invites_used_by_fkey FOREIGN KEY (used_by) REFERENCES users (id) ON DELETE SET NULL
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE invites`);
  }
}
