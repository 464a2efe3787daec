import type { Client } from 'pg';

/** 2026-01-01T00:00:00Z, the Snowflake epoch of the init migration (not imported: the bench stays free of Nest). */
const SNOWFLAKE_EPOCH_MS = 1_767_225_600_000;
const SEED_CHUNK = 100_000;

/**
 * Seeds `count` messages straight into the table with ascending Snowflake ids one millisecond
 * apart, ending a minute ago (so ids the server mints later are all larger), and as many into
 * each of `noiseChannelIds` with the same milliseconds (low bits 1, 2, ...), interleaved as in
 * any deployment with more than one channel: reading a page must then use the (channel_id, id)
 * index, a walk of the primary key would step over the other channels' rows.
 * Every `reactionsEvery`-th message gets reactions: 🎉 by `otherId`, then 👍 by `otherId` and by
 * `readerId` (so pages carry groups, counts and both values of `me`).
 */
export async function seedMessages(
  db: Client,
  channelId: string,
  noiseChannelIds: string[],
  authorId: string,
  count: number,
  contentLength: number,
  reactions: { every: number; readerId: string; otherId: string },
): Promise<{ minId: string; maxId: string; reactions: number }> {
  const firstMs = Date.now() - SNOWFLAKE_EPOCH_MS - 60_000 - count;
  const channels = [channelId, ...noiseChannelIds];
  for (let from = 0; from < count; from += SEED_CHUNK) {
    const to = Math.min(count, from + SEED_CHUNK) - 1;
    await db.query(
      `INSERT INTO messages (id, channel_id, author_id, content, mentions, created_at)
       SELECT (($3::bigint + g) << 22) | c.k, c.id, $2,
              left(repeat(md5(g::text) || ' ', ($6::int / 33) + 1), $6::int),
              '{}'::bigint[],
              to_timestamp(($7::bigint + $3::bigint + g) / 1000.0)
         FROM generate_series($4::bigint, $5::bigint) AS g
        CROSS JOIN unnest($1::bigint[]) WITH ORDINALITY AS c(id, k)`,
      [channels, authorId, firstMs, from, to, contentLength, SNOWFLAKE_EPOCH_MS],
    );
    process.stdout.write(`  seeded ${to + 1}/${count} per channel (${channels.length} channels)\n`);
  }
  let reactionRows = 0;
  if (reactions.every > 0) {
    const res = await db.query(
      `INSERT INTO message_reactions (message_id, emoji, user_id, created_at)
       SELECT m.id, e.emoji, e.user_id, m.created_at + e.after
         FROM messages m
        CROSS JOIN (VALUES ('🎉', $3::bigint, interval '1 second'),
                           ('👍', $3::bigint, interval '2 seconds'),
                           ('👍', $4::bigint, interval '3 seconds')) AS e(emoji, user_id, after)
        WHERE m.channel_id = ANY ($1::bigint[]) AND ((m.id >> 22) % $2) = 0`,
      [channels, reactions.every, reactions.otherId, reactions.readerId],
    );
    reactionRows = res.rowCount ?? 0;
  }
  const { rows } = await db.query<{ min: string; max: string }>(
    'SELECT min(id)::text AS min, max(id)::text AS max FROM messages WHERE channel_id = $1',
    [channelId],
  );
  return { minId: rows[0]!.min, maxId: rows[0]!.max, reactions: reactionRows };
}
