import { MigrationInterface, QueryRunner } from 'typeorm';

/** Ids are milliseconds since 2026-01-01 shifted left by 22 bits (see the init migration). */
const EPOCH_MS = 1767225600000;
/** Held (transaction-scoped, try-only) while one replica creates and drops outbox partitions. */
const OUTBOX_MAINTENANCE_LOCK = 7204817310985236;

/** ISO-8601 UTC with milliseconds, exactly as `Date.prototype.toISOString` prints it (to_char truncates, as JS does). */
export const iso = (ts: string) => `to_char(${ts} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * The message view of the API (MessageView in libs/core/src/events/domain-events.ts), built by
 * Postgres so that the server passes the text through: row_to_json of the composite type
 * `message_view`, whose attributes are the contract's keys in order (compact JSON).
 */
export const messageView = (f: {
  id: string;
  channelId: string;
  authorId: string;
  username: string;
  displayName: string;
  content: string;
  nonce: string;
  parentId: string;
  mentions: string;
  reactions: string;
  createdAt: string;
  editedAt: string;
  /** A json array of the message's attachments (later migrations: the messages.attachments column). */
  attachments?: string;
}) => `row_to_json(ROW(
  ${f.id}::text, ${f.channelId}::text,
  ROW(${f.authorId}::text, ${f.username}, ${f.displayName})::message_view_author,
  ${f.content}, ${f.nonce}, ${f.parentId}::text, ${f.attachments ?? `'[]'::json`}, ${f.mentions}::text[], ${f.reactions},
  ${iso(f.createdAt)}, ${iso(f.editedAt)})::message_view)`;

/**
 * A JSON array of message views, in `order`, for the rows of `pageSql` (messages, optionally with
 * more columns such as an ordinal) as `viewer` sees them. Reactions are counted in one grouped
 * pass over the page's messages (with `me` for the viewer; null: false, as in events), not by a
 * subquery per message.
 */
export const viewsJson = (pageSql: string, viewer: string, order: string, attachments?: string) => `
  WITH page AS (${pageSql}),
  rx AS (
    SELECT x.message_id,
           array_agg(ROW(x.emoji, x.n, x.me)::message_view_reaction ORDER BY x.first_at, x.emoji) AS reactions
      FROM (SELECT r.message_id, r.emoji, count(*)::int AS n, coalesce(bool_or(r.user_id = ${viewer}), false) AS me,
                   min(r.created_at) AS first_at
              FROM message_reactions r WHERE r.message_id IN (SELECT id FROM page)
             GROUP BY r.message_id, r.emoji) x
     GROUP BY x.message_id)
  SELECT coalesce(json_agg(${messageView({
    id: 'm.id',
    channelId: 'm.channel_id',
    authorId: 'm.author_id',
    username: 'u.username',
    displayName: 'u.display_name',
    content: 'm.content',
    nonce: 'm.nonce',
    parentId: 'm.parent_id',
    mentions: 'm.mentions',
    reactions: `coalesce(rx.reactions, '{}'::message_view_reaction[])`,
    createdAt: 'm.created_at',
    editedAt: 'm.edited_at',
    attachments,
  })} ORDER BY ${order}), '[]'::json)::text
    FROM page m JOIN users u ON u.id = m.author_id LEFT JOIN rx ON rx.message_id = m.id`;

/** The variables post_messages declares (later versions add their own after these). */
export const POST_DECLARE = `
        v_ids bigint[];
        v_kinds text[];
        v_archived boolean[];
        v_seqs bigint[];
        v_first_seqs bigint[];
        v_channel bigint;
        k int;
        v_username text;
        v_display text;
        v_member boolean;
        v_prior record;
        v_grandparent bigint;
        v_mentions bigint[];
        v_id bigint;
        v_at timestamptz;
        v_view json;
        v_event record;
`;

/** The view of the message a post just inserted (see the variables of post_messages). */
export const postView = (attachments?: string) =>
  messageView({
    id: 'v_id',
    channelId: 'v_channel',
    authorId: 'p_authors[i]',
    username: 'v_username',
    displayName: 'v_display',
    content: 'p_contents[i]',
    nonce: 'p_nonces[i]',
    parentId: 'p_parents[i]',
    mentions: 'v_mentions',
    reactions: `'{}'::message_view_reaction[]`,
    createdAt: 'v_at',
    editedAt: 'NULL::timestamptz',
    attachments,
  });

/**
 * The start of post_messages' body: locks the posts' channels (skipping locked ones unless p_wait),
 * then, per post, answers busy / not_found / forbidden until the author is a member.
 */
export const POST_PRELUDE = `
        IF p_wait THEN
          SELECT array_agg(c.id ORDER BY c.id), array_agg(c.kind ORDER BY c.id),
                 array_agg(c.archived_at IS NOT NULL ORDER BY c.id), array_agg(c.last_seq ORDER BY c.id)
            INTO v_ids, v_kinds, v_archived, v_seqs
            FROM (SELECT x.id, x.kind, x.archived_at, x.last_seq FROM channels x
                   WHERE x.id = ANY(p_channels) ORDER BY x.id FOR NO KEY UPDATE) c;
        ELSE
          SELECT array_agg(c.id ORDER BY c.id), array_agg(c.kind ORDER BY c.id),
                 array_agg(c.archived_at IS NOT NULL ORDER BY c.id), array_agg(c.last_seq ORDER BY c.id)
            INTO v_ids, v_kinds, v_archived, v_seqs
            FROM (SELECT x.id, x.kind, x.archived_at, x.last_seq FROM channels x
                   WHERE x.id = ANY(p_channels) ORDER BY x.id FOR NO KEY UPDATE SKIP LOCKED) c;
        END IF;
        v_ids := coalesce(v_ids, '{}');
        v_first_seqs := v_seqs;
        FOR i IN 1..coalesce(array_length(p_authors, 1), 0) LOOP
          status := NULL; message_id := NULL; event_id := NULL; event_seq := NULL; event_created_at := NULL; body := NULL;
          v_channel := p_channels[i];
          k := array_position(v_ids, v_channel);
          IF k IS NULL THEN
            status := CASE WHEN EXISTS (SELECT 1 FROM channels x WHERE x.id = v_channel) THEN 'busy' ELSE 'not_found' END;
            RETURN NEXT; CONTINUE;
          END IF;
          v_member := false;
          SELECT u.username, u.display_name,
                 EXISTS (SELECT 1 FROM channel_members cm WHERE cm.channel_id = v_channel AND cm.user_id = u.id)
            INTO v_username, v_display, v_member
            FROM users u WHERE u.id = p_authors[i];
          IF NOT coalesce(v_member, false) THEN
            status := CASE WHEN v_kinds[k] = 'public' THEN 'forbidden' ELSE 'not_found' END;
            RETURN NEXT; CONTINUE;
          END IF;
`;

/** The end of post_messages' body: the post's event, its answer row, and the channels' last_seq. */
export const POST_EPILOGUE = `
          v_seqs[k] := v_seqs[k] + 1;
          SELECT s.event_id, s.event_created_at INTO v_event
            FROM store_event(v_channel, v_seqs[k], 'message.created', v_view, '{}') s;
          status := 'created';
          message_id := v_id::text;
          event_id := v_event.event_id::text;
          event_seq := v_seqs[k];
          event_created_at := ${iso('v_event.event_created_at')};
          body := v_view::text;
          RETURN NEXT;
        END LOOP;
        UPDATE channels c SET last_seq = u.seq
          FROM unnest(v_ids, v_seqs, v_first_seqs) u(id, seq, first_seq)
         WHERE c.id = u.id AND u.seq <> u.first_seq;
`;

/** post_messages as issue 7 made it (before attachments). */
const POST_MESSAGES_V1 = `
      CREATE FUNCTION post_messages(p_channels bigint[], p_authors bigint[], p_contents text[], p_nonces text[],
                                    p_parents bigint[], p_mentions text[], p_wait boolean)
      RETURNS TABLE (status text, message_id text, event_id text, event_seq bigint, event_created_at text, body text)
      LANGUAGE plpgsql AS $$
      DECLARE
${POST_DECLARE}      BEGIN
${POST_PRELUDE}          IF p_nonces[i] IS NOT NULL THEN
            -- Planned each time (EXECUTE): a plan cached while the table was small can settle on the
            -- (channel_id, id) index and then read every message of a hot channel for each post.
            EXECUTE 'SELECT m.id, m.content, m.parent_id FROM messages m
                      WHERE m.author_id = $1 AND m.channel_id = $2 AND m.nonce = $3'
              INTO v_prior USING p_authors[i], v_channel, p_nonces[i];
            IF v_prior.id IS NOT NULL THEN
              status := CASE WHEN v_prior.content = p_contents[i] AND v_prior.parent_id IS NOT DISTINCT FROM p_parents[i]
                             THEN 'replay' ELSE 'mismatch' END;
              message_id := v_prior.id::text;
              RETURN NEXT; CONTINUE;
            END IF;
          END IF;
          IF v_archived[k] THEN status := 'archived'; RETURN NEXT; CONTINUE; END IF;
          IF p_parents[i] IS NOT NULL THEN
            SELECT m.parent_id INTO v_grandparent FROM messages m WHERE m.id = p_parents[i] AND m.channel_id = v_channel;
            IF NOT FOUND OR v_grandparent IS NOT NULL THEN status := 'bad_parent'; RETURN NEXT; CONTINUE; END IF;
          END IF;
          v_mentions := '{}';
          IF coalesce(p_mentions[i], '') <> '' THEN v_mentions := resolve_mentions(v_channel, p_mentions[i]); END IF;
          INSERT INTO messages (channel_id, author_id, content, nonce, parent_id, mentions)
          VALUES (v_channel, p_authors[i], p_contents[i], p_nonces[i], p_parents[i], v_mentions)
          RETURNING messages.id, messages.created_at INTO v_id, v_at;
          v_view := ${postView()};
${POST_EPILOGUE}      END $$`;

/**
 * The read functions (message_views, message_page) as statements; `attachments` is the json of a
 * message's attachments in the page (`m.` is the message row), `'[]'::json` before attachments.
 */
export const messageReadFunctions = (
  verb: 'CREATE' | 'CREATE OR REPLACE',
  attachments?: string,
): string[] => [
  // Messages by id as a JSON array in the order given (absent ids are skipped).
  `
      ${verb} FUNCTION message_views(p_viewer bigint, p_ids bigint[]) RETURNS text LANGUAGE sql STABLE AS $$
        ${viewsJson(
          'SELECT x.*, y.ord FROM unnest(p_ids) WITH ORDINALITY y(id, ord) JOIN messages x ON x.id = y.id',
          'p_viewer',
          'm.ord',
          attachments,
        )}
      $$`,

  // A page of a channel's history for a viewer, access check included: status ok | forbidden |
  // not_found, and the page as JSON text (newest first; with p_after, the oldest first after it).
  `
      ${verb} FUNCTION message_page(p_viewer bigint, p_channel bigint, p_before bigint, p_after bigint, p_limit int,
                                   OUT status text, OUT body text)
      LANGUAGE plpgsql STABLE AS $$
      DECLARE
        v_kind text;
        v_member boolean;
      BEGIN
        SELECT c.kind, EXISTS (SELECT 1 FROM channel_members cm WHERE cm.channel_id = c.id AND cm.user_id = p_viewer)
          INTO v_kind, v_member FROM channels c WHERE c.id = p_channel;
        IF NOT FOUND OR (NOT v_member AND v_kind <> 'public') THEN status := 'not_found'; RETURN; END IF;
        IF NOT v_member THEN status := 'forbidden'; RETURN; END IF;
        status := 'ok';
        IF p_after IS NOT NULL THEN
          body := (${viewsJson(
            'SELECT x.* FROM messages x WHERE x.channel_id = p_channel AND x.id > p_after ORDER BY x.id LIMIT p_limit',
            'p_viewer',
            'm.id',
            attachments,
          )});
        ELSIF p_before IS NOT NULL THEN
          -- One query per shape (not "p_before IS NULL OR ..."): a cached generic plan then still
          -- has the cursor as an index condition.
          body := (${viewsJson(
            'SELECT x.* FROM messages x WHERE x.channel_id = p_channel AND x.id < p_before ORDER BY x.id DESC LIMIT p_limit',
            'p_viewer',
            'm.id DESC',
            attachments,
          )});
        ELSE
          body := (${viewsJson(
            'SELECT x.* FROM messages x WHERE x.channel_id = p_channel ORDER BY x.id DESC LIMIT p_limit',
            'p_viewer',
            'm.id DESC',
            attachments,
          )});
        END IF;
      END $$`,
];

/**
 * The write path reshaped (issue 7):
 * - next_snowflake() no longer wraps its sequence within a millisecond (ids never go backwards);
 * - every event of a channel gets a gapless per-channel `seq` from `channels.last_seq`, taken under
 *   the channel row's lock, which is now the per-channel write lock;
 * - the outbox is partitioned by id range per day (retention drops whole partitions) and its
 *   payload is stored as `json` text, passed through to consumers unparsed;
 * - "not yet published" is a row in the small `outbox_pending` table instead of a flag on the
 *   (immutable) outbox row;
 * - SQL functions: store_event / append_event (every outbox insert goes through store_event),
 *   post_messages (the serialised part of a post, for one or many posts of one channel, in one
 *   statement), message_page and message_views (history pages built as JSON), outbox_maintain.
 */
export class WritePath1764300000000 implements MigrationInterface {
  name = 'WritePath1764300000000';

  async up(q: QueryRunner): Promise<void> {
    // Copies a table's rows: not bounded by the server's statement or lock timeouts.
    await q.query(`SET LOCAL statement_timeout = 0`);
    await q.query(`SET LOCAL lock_timeout = 0`);

    // Adding the sequence instead of taking it modulo 2^22: strictly increasing while the clock does
    // not step back. The time read from an id is late by (ids minted so far) / 2^22 milliseconds.
    await q.query(`
      CREATE OR REPLACE FUNCTION next_snowflake() RETURNS bigint LANGUAGE sql VOLATILE AS $$
        SELECT ((floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint - ${EPOCH_MS}) << 22)
               + nextval('snowflake_seq')
      $$`);
    await q.query(`
      CREATE FUNCTION snowflake_at(p_at timestamptz) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
        SELECT greatest(0, floor(extract(epoch FROM p_at) * 1000)::bigint - ${EPOCH_MS}) << 22
      $$`);

    await q.query(`ALTER TABLE channels ADD last_seq bigint NOT NULL DEFAULT 0`);

    await q.query(`ALTER TABLE outbox RENAME TO outbox_old`);
    await q.query(`ALTER TABLE outbox_old RENAME CONSTRAINT outbox_pkey TO outbox_old_pkey`);
    await q.query(`DROP INDEX outbox_unpublished_idx`);
    await q.query(`
      CREATE TABLE outbox (
        id bigint NOT NULL,
        channel_id bigint NOT NULL,
        seq bigint NOT NULL,
        type varchar(64) NOT NULL,
        payload json NOT NULL,
        notify_user_ids bigint[] NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT outbox_pkey PRIMARY KEY (id)
      ) PARTITION BY RANGE (id)`);
    // Range reads by the gateway (a channel's events after a seq). Not unique: a unique index of a
    // partitioned table must contain the partition key; the channel row's counter makes seq unique.
    await q.query(`CREATE INDEX outbox_channel_id_seq_idx ON outbox (channel_id, seq)`);
    await q.query(`
      CREATE TABLE outbox_pending (
        id bigint NOT NULL,
        CONSTRAINT outbox_pending_pkey PRIMARY KEY (id)
      )`);

    await q.query(`
      CREATE FUNCTION outbox_maintain(p_keep_days int, p_ahead_days int, p_behind_days int DEFAULT 0)
      RETURNS text LANGUAGE plpgsql AS $$
      DECLARE
        v_today date := (now() AT TIME ZONE 'UTC')::date;
        v_day date;
        v_name text;
        v_upper bigint;
        v_keep_from bigint := snowflake_at(now() - make_interval(days => p_keep_days));
        v_created int := 0;
        v_dropped int := 0;
        v_skipped int := 0;
        r record;
      BEGIN
        -- One replica at a time; the others find the work done.
        IF NOT pg_try_advisory_xact_lock(${OUTBOX_MAINTENANCE_LOCK}) THEN RETURN 'busy'; END IF;
        -- DDL on a partition locks the whole outbox briefly: give up quickly rather than queue writers behind it.
        PERFORM set_config('lock_timeout', '200ms', true);
        FOR d IN -p_behind_days..p_ahead_days LOOP
          v_day := v_today + d;
          v_name := 'outbox_p' || to_char(v_day, 'YYYYMMDD');
          CONTINUE WHEN to_regclass(v_name) IS NOT NULL;
          BEGIN
            EXECUTE format('CREATE TABLE %I PARTITION OF outbox FOR VALUES FROM (%s) TO (%s)', v_name,
              snowflake_at(v_day::timestamp AT TIME ZONE 'UTC'), snowflake_at((v_day + 1)::timestamp AT TIME ZONE 'UTC'));
            v_created := v_created + 1;
          EXCEPTION WHEN lock_not_available THEN v_skipped := v_skipped + 1;
          END;
        END LOOP;
        FOR r IN SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound
                   FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                  WHERE i.inhparent = 'outbox'::regclass LOOP
          v_upper := nullif(substring(r.bound FROM 'TO \\(''?(-?[0-9]+)''?\\)'), '')::bigint;
          CONTINUE WHEN v_upper IS NULL OR v_upper > v_keep_from;
          BEGIN
            EXECUTE format('DROP TABLE %I', r.relname);
            v_dropped := v_dropped + 1;
          EXCEPTION WHEN lock_not_available THEN v_skipped := v_skipped + 1;
          END;
        END LOOP;
        RETURN format('created %s, dropped %s, postponed %s', v_created, v_dropped, v_skipped);
      END $$`);
    // Partitions for the retained week (the rows copied below) and the days ahead.
    await q.query(`SELECT outbox_maintain(7, 3, 7)`);

    // Existing events: per-channel seq in id order (they were written under the channel's lock).
    await q.query(`
      INSERT INTO outbox (id, channel_id, seq, type, payload, notify_user_ids, created_at)
      SELECT id, channel_id, row_number() OVER (PARTITION BY channel_id ORDER BY id), type, payload::json,
             notify_user_ids, created_at
        FROM outbox_old WHERE id >= snowflake_at(now() - interval '7 days')`);
    await q.query(`
      INSERT INTO outbox_pending (id)
      SELECT o.id FROM outbox_old o WHERE o.published_at IS NULL AND o.id >= snowflake_at(now() - interval '7 days')`);
    await q.query(`
      UPDATE channels c SET last_seq = s.last_seq
        FROM (SELECT channel_id, max(seq) AS last_seq FROM outbox GROUP BY channel_id) s
       WHERE s.channel_id = c.id`);
    await q.query(`DROP TABLE outbox_old`);

    // The one place an outbox row is written (the webhooks' delivery rows will join it here).
    await q.query(`
      CREATE FUNCTION store_event(p_channel bigint, p_seq bigint, p_type text, p_payload json, p_notify bigint[],
                                  OUT event_id bigint, OUT event_created_at timestamptz)
      LANGUAGE plpgsql AS $$
      BEGIN
        event_id := next_snowflake();
        event_created_at := now();
        INSERT INTO outbox (id, channel_id, seq, type, payload, notify_user_ids, created_at)
        VALUES (event_id, p_channel, p_seq, p_type, p_payload, coalesce(p_notify, '{}'), event_created_at);
        INSERT INTO outbox_pending (id) VALUES (event_id);
      END $$`);
    // Takes the next seq of the channel (the row lock serialises the channel's writers until commit).
    await q.query(`
      CREATE FUNCTION append_event(p_channel bigint, p_type text, p_payload json, p_notify bigint[],
                                   OUT event_id bigint, OUT event_seq bigint, OUT event_created_at timestamptz)
      LANGUAGE plpgsql AS $$
      BEGIN
        UPDATE channels SET last_seq = last_seq + 1 WHERE id = p_channel RETURNING last_seq INTO event_seq;
        IF NOT FOUND THEN RAISE EXCEPTION 'append_event: no channel %', p_channel USING ERRCODE = 'foreign_key_violation'; END IF;
        SELECT s.event_id, s.event_created_at INTO event_id, event_created_at
          FROM store_event(p_channel, event_seq, p_type, p_payload, p_notify) s;
      END $$`);

    // The shapes of the message view (see messageView): attribute names are the JSON keys.
    await q.query(`CREATE TYPE message_view_author AS (id text, username text, "displayName" text)`);
    await q.query(`CREATE TYPE message_view_reaction AS (emoji text, count int, me boolean)`);
    await q.query(`
      CREATE TYPE message_view AS (
        id text, "channelId" text, author message_view_author, content text, nonce text, "parentId" text,
        attachments json, mentions text[], reactions message_view_reaction[], "createdAt" text, "editedAt" text
      )`);

    // Ids of the channel members named by the mentions, in order of first mention. Each group holds
    // the readings of one mention, most literal first, comma-separated; groups are space-separated.
    await q.query(`
      CREATE FUNCTION resolve_mentions(p_channel bigint, p_groups text) RETURNS bigint[] LANGUAGE sql STABLE AS $$
        SELECT coalesce(array_agg(y.id ORDER BY y.ord), '{}')
          FROM (SELECT DISTINCT ON (x.id) x.id, x.ord
                  FROM (SELECT g.ord,
                               (SELECT u.id FROM unnest(string_to_array(g.grp, ',')) WITH ORDINALITY a(name, alt)
                                  JOIN users u ON u.username = a.name
                                  JOIN channel_members cm ON cm.channel_id = p_channel AND cm.user_id = u.id
                                 ORDER BY a.alt LIMIT 1) AS id
                          FROM unnest(string_to_array(p_groups, ' ')) WITH ORDINALITY g(grp, ord)) x
                 WHERE x.id IS NOT NULL
                 ORDER BY x.id, x.ord) y
      $$`);

    // The serialised part of posting, for n posts at once, of one or several channels (each post's
    // channel in p_channels; a channel's posts in the order they are to be written). One row per
    // post, in order: status created | replay | mismatch | forbidden | not_found | archived |
    // bad_parent | busy. The channels' rows are locked first, in id order; with p_wait false a
    // channel whose lock another transaction holds is skipped and its posts answer busy (the
    // caller retries them alone, waiting), so one stuck channel never holds up the others. The
    // statements inside run one after another, each with a fresh snapshot (READ COMMITTED), after
    // the locks: the membership and nonce checks see every write committed before.
    await q.query(POST_MESSAGES_V1);

    for (const sql of messageReadFunctions('CREATE')) await q.query(sql);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`SET LOCAL statement_timeout = 0`);
    await q.query(`SET LOCAL lock_timeout = 0`);
    await q.query(`DROP FUNCTION message_page(bigint, bigint, bigint, bigint, int)`);
    await q.query(`DROP FUNCTION message_views(bigint, bigint[])`);
    await q.query(
      `DROP FUNCTION post_messages(bigint[], bigint[], text[], text[], bigint[], text[], boolean)`,
    );
    await q.query(`DROP FUNCTION resolve_mentions(bigint, text)`);
    await q.query(`DROP TYPE message_view`);
    await q.query(`DROP TYPE message_view_reaction`);
    await q.query(`DROP TYPE message_view_author`);
    await q.query(`DROP FUNCTION append_event(bigint, text, json, bigint[])`);
    await q.query(`DROP FUNCTION store_event(bigint, bigint, text, json, bigint[])`);
    await q.query(`DROP FUNCTION outbox_maintain(int, int, int)`);

    await q.query(`ALTER TABLE outbox RENAME TO outbox_new`);
    await q.query(`ALTER TABLE outbox_new RENAME CONSTRAINT outbox_pkey TO outbox_new_pkey`);
    await q.query(`ALTER INDEX outbox_channel_id_seq_idx RENAME TO outbox_new_channel_id_seq_idx`);
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
    await q.query(`
      INSERT INTO outbox (id, type, channel_id, payload, notify_user_ids, created_at, published_at)
      SELECT o.id, o.type, o.channel_id, o.payload::jsonb, o.notify_user_ids, o.created_at,
             CASE WHEN p.id IS NULL THEN now() END
        FROM outbox_new o LEFT JOIN outbox_pending p ON p.id = o.id`);
    // Dropping the parent drops its partitions.
    await q.query(`DROP TABLE outbox_new`);
    await q.query(`DROP TABLE outbox_pending`);
    await q.query(`ALTER TABLE channels DROP COLUMN last_seq`);
    await q.query(`DROP FUNCTION snowflake_at(timestamptz)`);
    await q.query(`
      CREATE OR REPLACE FUNCTION next_snowflake() RETURNS bigint LANGUAGE sql VOLATILE AS $$
        SELECT ((floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint - ${EPOCH_MS}) << 22)
               | (nextval('snowflake_seq') % 4194304)
      $$`);
  }
}
