import { MigrationInterface, QueryRunner } from 'typeorm';

/** Snowflake ids, users and their login tokens. */
export class Init1764100000000 implements MigrationInterface {
  name = 'Init1764100000000';

  async up(q: QueryRunner): Promise<void> {
    // Ids: milliseconds since 2026-01-01 in the top 41 bits, a cluster-wide sequence in the low 22.
    await q.query(`CREATE SEQUENCE snowflake_seq`);
    await q.query(`
      CREATE FUNCTION next_snowflake() RETURNS bigint LANGUAGE sql VOLATILE AS $$
        SELECT ((floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint - 1767225600000) << 22)
               | (nextval('snowflake_seq') % 4194304)
      $$`);
    await q.query(`
      CREATE TABLE users (
        id bigint NOT NULL DEFAULT next_snowflake(),
        username varchar(32) NOT NULL,
        display_name varchar(128) NOT NULL,
        password_hash text,
        is_admin boolean NOT NULL DEFAULT false,
        is_bot boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT users_pkey PRIMARY KEY (id)
      )`);
    await q.query(`CREATE UNIQUE INDEX users_username_key ON users (username)`);
    await q.query(`
      CREATE TABLE auth_tokens (
        token_hash bytea NOT NULL,
        user_id bigint NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT auth_tokens_pkey PRIMARY KEY (token_hash),
        CONSTRAINT auth_tokens_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
      )`);
    await q.query(`CREATE INDEX auth_tokens_user_id_idx ON auth_tokens (user_id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE auth_tokens`);
    await q.query(`DROP TABLE users`);
    await q.query(`DROP FUNCTION next_snowflake()`);
    await q.query(`DROP SEQUENCE snowflake_seq`);
  }
}
