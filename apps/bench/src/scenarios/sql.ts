import type { PoolClient } from 'pg';

/**
 * The SQL the baselines run. Keep these in step with what the server does (libs/messages,
 * libs/core/src/outbox): the point of the baseline is "the same rows, without the server".
 */

/** Same namespace and key as OutboxService.lockChannel (the server holds it until commit). */
export const CHANNEL_LOCK_SQL = 'SELECT pg_advisory_xact_lock(7204, hashtext($1))';

/** MessagesService.post's insert, verbatim, plus created_at for the event payload. */
export const INSERT_MESSAGE_SQL = `INSERT INTO messages (channel_id, author_id, content, nonce, parent_id, mentions)
         VALUES ($1, $2, $3, $4, $5, $6::bigint[])
         ON CONFLICT (author_id, channel_id, nonce) WHERE nonce IS NOT NULL DO NOTHING
         RETURNING id, created_at`;

export const INSERT_OUTBOX_SQL = `INSERT INTO outbox (type, channel_id, payload, notify_user_ids)
  VALUES ('message.created', $1, $2::jsonb, '{}'::bigint[])`;

/**
 * The post baseline: BEGIN; the channel's advisory lock (unless `lock` is false); the message
 * INSERT; the outbox INSERT with the message view as payload; COMMIT. The server additionally
 * authenticates, checks membership, looks up the nonce, reads the view back and parses HTTP.
 */
export async function insertMessageLikeServer(
  c: PoolClient,
  row: { channelId: string; authorId: string; username: string; content: string; nonce: string },
  lock: boolean,
): Promise<void> {
  await c.query('BEGIN');
  try {
    if (lock) await c.query(CHANNEL_LOCK_SQL, [row.channelId]);
    const { rows } = await c.query<{ id: string; created_at: Date }>(INSERT_MESSAGE_SQL, [
      row.channelId,
      row.authorId,
      row.content,
      row.nonce,
      null,
      '{}',
    ]);
    const m = rows[0]!;
    // The event payload is the message view, so the outbox row has the server's size too.
    const view = {
      id: m.id,
      channelId: row.channelId,
      author: { id: row.authorId, username: row.username, displayName: row.username },
      content: row.content,
      nonce: row.nonce,
      parentId: null,
      attachments: [],
      mentions: [],
      reactions: [],
      createdAt: m.created_at.toISOString(),
      editedAt: null,
    };
    await c.query(INSERT_OUTBOX_SQL, [row.channelId, JSON.stringify(view)]);
    await c.query('COMMIT');
  } catch (err) {
    await c.query('ROLLBACK');
    throw err;
  }
}
