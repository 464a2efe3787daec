import { MigrationInterface, QueryRunner } from 'typeorm';

/** Channels and membership, messages with threads, reactions and idempotent nonces, and the event outbox. */
export class ChannelsMessagesOutbox1764200000000 implements MigrationInterface {
  name = 'ChannelsMessagesOutbox1764200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE channels (
        id bigint NOT NULL DEFAULT next_snowflake(),
        name varchar(80) NOT NULL,
        kind varchar(16) NOT NULL,
        topic varchar(250) NOT NULL DEFAULT '',
        owner_id bigint,
        archived_at timestamptz,
        dm_key varchar(255),
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT channels_pkey PRIMARY KEY (id),
        CONSTRAINT channels_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES users (id) ON DELETE SET NULL
      )`);
    await q.query(`CREATE UNIQUE INDEX channels_dm_key_key ON channels (dm_key)`);
    await q.query(`CREATE INDEX channels_kind_id_idx ON channels (kind, id)`);

    await q.query(`
      CREATE TABLE channel_members (
        channel_id bigint NOT NULL,
        user_id bigint NOT NULL,
        role varchar(16) NOT NULL DEFAULT 'member',
        joined_at timestamptz NOT NULL DEFAULT now(),
        last_read_message_id bigint,
        CONSTRAINT channel_members_pkey PRIMARY KEY (channel_id, user_id),
        CONSTRAINT channel_members_channel_id_fkey FOREIGN KEY (channel_id) REFERENCES channels (id) ON DELETE CASCADE,
        CONSTRAINT channel_members_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
      )`);
    await q.query(`CREATE INDEX channel_members_user_id_idx ON channel_members (user_id)`);

    await q.query(`
      CREATE TABLE messages (
        id bigint NOT NULL DEFAULT next_snowflake(),
        channel_id bigint NOT NULL,
        author_id bigint NOT NULL,
        content text NOT NULL,
        nonce varchar(64),
        parent_id bigint,
        mentions bigint[] NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        edited_at timestamptz,
        CONSTRAINT messages_pkey PRIMARY KEY (id),
        CONSTRAINT messages_channel_id_fkey FOREIGN KEY (channel_id) REFERENCES channels (id) ON DELETE CASCADE,
        CONSTRAINT messages_author_id_fkey FOREIGN KEY (author_id) REFERENCES users (id) ON DELETE CASCADE,
        CONSTRAINT messages_parent_id_fkey FOREIGN KEY (parent_id) REFERENCES messages (id) ON DELETE CASCADE
      )`);
    await q.query(`CREATE INDEX messages_channel_id_id_idx ON messages (channel_id, id)`);
    await q.query(`CREATE INDEX messages_parent_id_id_idx ON messages (parent_id, id)`);
    await q.query(
      `CREATE UNIQUE INDEX messages_author_channel_nonce_key ON messages (author_id, channel_id, nonce) WHERE nonce IS NOT NULL`,
    );

    await q.query(`
      CREATE TABLE message_reactions (
        message_id bigint NOT NULL,
        emoji varchar(32) NOT NULL,
        user_id bigint NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT message_reactions_pkey PRIMARY KEY (message_id, emoji, user_id),
        CONSTRAINT message_reactions_message_id_fkey FOREIGN KEY (message_id) REFERENCES messages (id) ON DELETE CASCADE,
        CONSTRAINT message_reactions_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
      )`);

    // No foreign keys: an event outlives what it describes (message.deleted, member.left).
    await q.query(`
      CREATE TABLE outbox (
        id bigint NOT NULL DEFAULT next_snowflake(),
        type varchar(64) NOT NULL,
        channel_id bigint NOT NULL,
        payload jsonb NOT NULL,
        notify_user_ids bigint[] NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        published_at timestamptz,
        CONSTRAINT outbox_pkey PRIMARY KEY (id)
      )`);
    await q.query(`CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE outbox`);
    await q.query(`DROP TABLE message_reactions`);
    await q.query(`DROP TABLE messages`);
    await q.query(`DROP TABLE channel_members`);
    await q.query(`DROP TABLE channels`);
  }
}
