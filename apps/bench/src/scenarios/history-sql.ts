/**
 * The history baseline: the page `GET /channels/:id/messages?before=&limit=` answers (messages
 * newest first with their authors, reactions grouped per emoji in first-reaction order with the
 * caller's `me`, and whether the caller is a member at all), in one statement with bound
 * parameters. $1 channel id, $2 `before` id, $3 limit, $4 the caller's user id.
 */

/** Renders a timestamptz the way `Date.prototype.toISOString` does (milliseconds, `Z`). */
const iso = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * The page (a backward range of the (channel_id, id) index, stopped by the LIMIT), then the
 * reactions of its messages in one index scan (`message_id = ANY(page ids)`) grouped per
 * message and emoji, in first-reaction order as the server lists them.
 */
const PAGE_FROM = `
  FROM page p
  JOIN users u ON u.id = p.author_id
  LEFT JOIN (
    SELECT message_id,
           json_agg(json_build_object('emoji', emoji, 'count', n, 'me', me) ORDER BY first, emoji) AS list
      FROM (SELECT message_id, emoji, count(*)::int AS n, bool_or(user_id = $4::bigint) AS me, min(created_at) AS first
              FROM message_reactions
             WHERE message_id = ANY (ARRAY(SELECT id FROM page))
             GROUP BY message_id, emoji) g
     GROUP BY message_id
  ) r ON r.message_id = p.id`;

const PAGE_CTE = `
WITH page AS MATERIALIZED (
  SELECT id, channel_id, author_id, content, nonce, parent_id, mentions, created_at, edited_at
    FROM messages
   WHERE channel_id = $1 AND id < $2
   ORDER BY id DESC
   LIMIT $3)`;

const MEMBER = `EXISTS (SELECT 1 FROM channel_members WHERE channel_id = $1 AND user_id = $4::bigint)`;

/**
 * Postgres renders the whole page as JSON text (`::text`, so `pg` hands it over without parsing):
 * the answer body, ready to write (`--baseline json`). About as fast in all as `rows`, but all of
 * the work lands on Postgres, the part replicas share.
 */
export const HISTORY_PAGE_JSON_SQL = `${PAGE_CTE}
SELECT ${MEMBER} AS member,
       coalesce(json_agg(json_build_object(
         'id', p.id::text,
         'channelId', p.channel_id::text,
         'author', json_build_object('id', u.id::text, 'username', u.username, 'displayName', u.display_name),
         'content', p.content,
         'nonce', p.nonce,
         'parentId', p.parent_id::text,
         'attachments', '[]'::json,
         'mentions', to_json(p.mentions::text[]),
         'reactions', coalesce(r.list, '[]'::json),
         'createdAt', ${iso('p.created_at')},
         'editedAt', ${iso('p.edited_at')}
       ) ORDER BY p.id DESC), '[]'::json)::text AS page
${PAGE_FROM}`;

/**
 * One row per message, reactions already grouped (as JSON); Node builds the views and serialises
 * them once (`--baseline rows`, the default): the least Postgres CPU per page, as a Node server
 * would do it.
 */
export const HISTORY_PAGE_ROWS_SQL = `${PAGE_CTE}
SELECT ${MEMBER} AS member, p.id::text AS id, p.channel_id::text AS channel_id, u.id::text AS author_id,
       u.username, u.display_name, p.content, p.nonce, p.parent_id::text AS parent_id,
       p.mentions::text[] AS mentions, coalesce(r.list, '[]'::json) AS reactions, p.created_at, p.edited_at
${PAGE_FROM}
 ORDER BY p.id DESC`;

export interface HistoryRow {
  member: boolean;
  id: string;
  channel_id: string;
  author_id: string;
  username: string;
  display_name: string;
  content: string;
  nonce: string | null;
  parent_id: string | null;
  mentions: string[];
  reactions: { emoji: string; count: number; me: boolean }[];
  created_at: Date;
  edited_at: Date | null;
}

/** `--baseline rows`: the contract's message views from the rows, serialised once. */
export function renderHistoryRows(rows: HistoryRow[]): string {
  return JSON.stringify(
    rows.map((r) => ({
      id: r.id,
      channelId: r.channel_id,
      author: { id: r.author_id, username: r.username, displayName: r.display_name },
      content: r.content,
      nonce: r.nonce,
      parentId: r.parent_id,
      attachments: [],
      mentions: r.mentions,
      reactions: r.reactions,
      createdAt: r.created_at.toISOString(),
      editedAt: r.edited_at === null ? null : r.edited_at.toISOString(),
    })),
  );
}
