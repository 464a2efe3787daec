/**
 * The Socket.IO baseline's own table, shaped like `messages` (bigint ids, the (channel_id, id)
 * index history pages use, the per-author nonce key) but with an identity column for ids and no
 * outbox: what a team writing its first chat server would create. Its own table keeps the
 * baseline independent of our migrations.
 */
export const SOCKET_IO_SCHEMA_SQL = [
  `CREATE TABLE IF NOT EXISTS sio_messages (
     id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     channel_id bigint NOT NULL,
     author_id bigint NOT NULL,
     content text NOT NULL,
     nonce varchar(64),
     created_at timestamptz NOT NULL DEFAULT now()
   )`,
  'CREATE INDEX IF NOT EXISTS sio_messages_channel_id_id_idx ON sio_messages (channel_id, id)',
  `CREATE UNIQUE INDEX IF NOT EXISTS sio_messages_author_channel_nonce_key
     ON sio_messages (author_id, channel_id, nonce) WHERE nonce IS NOT NULL`,
];

/** The one autocommit statement per post. */
export const SOCKET_IO_INSERT_SQL = `INSERT INTO sio_messages (channel_id, author_id, content, nonce)
  VALUES ($1, $2, $3, $4)
  ON CONFLICT (author_id, channel_id, nonce) WHERE nonce IS NOT NULL DO NOTHING
  RETURNING id::text AS id, created_at`;

/** Only on a retried nonce. */
export const SOCKET_IO_REPLAY_SQL = `SELECT id::text AS id, created_at FROM sio_messages
  WHERE author_id = $1 AND channel_id = $2 AND nonce = $3`;
