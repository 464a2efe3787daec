import type { PoolClient } from 'pg';

/**
 * The SQL the baselines run. Keep these in step with what the server does (libs/messages,
 * libs/core/src/outbox): the point of the baseline is "the same rows, without the server".
 */

/**
 * The rows a post writes, the fastest correct way: one autocommit statement. Like the server's
 * `post_messages` (migrations/1764300000000-write-path.ts) it takes the channel's next seq with
 * `UPDATE channels SET last_seq = last_seq + 1` (the row lock serialises the channel's writers
 * until commit, so seq order = commit order = id order), inserts the message, its
 * `message.created` event with the message view (built by Postgres, as the server stores it) and
 * the event's `outbox_pending` row. The server additionally speaks HTTP, authenticates, checks
 * membership, looks the nonce up, checks the thread parent, resolves mentions, publishes the
 * event on the bus and strikes it off `outbox_pending`: that is what the ratio measures.
 */
export const POST_SQL = `WITH ch AS (
    UPDATE channels SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq
  ), m AS (
    INSERT INTO messages (channel_id, author_id, content, nonce, parent_id, mentions)
    SELECT $1, $2, $3, $4, NULL, '{}' FROM ch
    RETURNING id, created_at
  ), e AS (
    INSERT INTO outbox (id, channel_id, seq, type, payload, notify_user_ids)
    SELECT next_snowflake(), $1, ch.last_seq, 'message.created',
           row_to_json(ROW(m.id::text, $1::text, ROW($2::text, $5::text, $5::text)::message_view_author,
                           $3::text, $4::text, NULL, '[]'::json, '{}'::text[], '{}'::message_view_reaction[],
                           to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), NULL)::message_view),
           '{}'
      FROM ch, m
    RETURNING id
  )
  INSERT INTO outbox_pending (id) SELECT id FROM e`;

/** `--baseline-lock false`: the same rows without the channel's counter (seq 0), so nothing serialises a channel. */
export const POST_UNLOCKED_SQL = `WITH m AS (
    INSERT INTO messages (channel_id, author_id, content, nonce, parent_id, mentions)
    VALUES ($1, $2, $3, $4, NULL, '{}')
    RETURNING id, created_at
  ), e AS (
    INSERT INTO outbox (id, channel_id, seq, type, payload, notify_user_ids)
    SELECT next_snowflake(), $1, 0, 'message.created',
           row_to_json(ROW(m.id::text, $1::text, ROW($2::text, $5::text, $5::text)::message_view_author,
                           $3::text, $4::text, NULL, '[]'::json, '{}'::text[], '{}'::message_view_reaction[],
                           to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), NULL)::message_view),
           '{}'
      FROM m
    RETURNING id
  )
  INSERT INTO outbox_pending (id) SELECT id FROM e`;

/** The post baseline: one statement per message, as the server's post is one statement (without its batching). */
export async function insertMessageLikeServer(
  c: PoolClient,
  row: { channelId: string; authorId: string; username: string; content: string; nonce: string },
  lock: boolean,
): Promise<void> {
  await c.query({
    name: lock ? 'bench_post' : 'bench_post_unlocked',
    text: lock ? POST_SQL : POST_UNLOCKED_SQL,
    values: [row.channelId, row.authorId, row.content, row.nonce, row.username],
  });
}
