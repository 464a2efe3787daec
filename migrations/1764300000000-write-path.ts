import { MigrationInterface, QueryRunner } from 'typeorm';

/** Ids are milliseconds since 2026-01-01 shifted left by 22 bits (see the init migration). */
const EPOCH_MS = 1767225600000;
/** Held (transaction-scoped, try-only) while one replica creates and drops outbox partitions. */
const OUTBOX_MAINTENANCE_LOCK = 7204817310985236;

/** ISO-8601 UTC with milliseconds, exactly as `Date.prototype.toISOString` prints it (to_char truncates, as JS does). */
const iso = (ts: string) => `to_char(${ts} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/** Reactions of message `m`, as the API shows them to `viewer` (null: `me` is false, as in events). */
const reactionsOf = (m: string, viewer: string) => `ARRAY(
  SELECT ROW(r.emoji, r.n, r.me)::message_view_reaction
    FROM (SELECT x.emoji, count(*)::int AS n, coalesce(bool_or(x.user_id = ${viewer}), false) AS me, min(x.created_at) AS first_at
            FROM message_reactions x WHERE x.message_id = ${m}.id GROUP BY x.emoji) r
   ORDER BY r.first_at, r.emoji)`;

/**
 * The message view of the API (MessageView in libs/core/src/events/domain-events.ts), built by
 * Postgres so that the server passes the text through: row_to_json of the composite type
 * `message_view`, whose attributes are the contract's keys in order (compact JSON).
 */
const messageView = (f: {
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
}) => `row_to_json(ROW(
  ${f.id}::text, ${f.channelId}::text,
  ROW(${f.authorId}::text, ${f.username}, ${f.displayName})::message_view_author,
  ${f.content}, ${f.nonce}, ${f.parentId}::text, '[]'::json, ${f.mentions}::text[], ${f.reactions},
  ${iso(f.createdAt)}, ${iso(f.editedAt)})::message_view)`;

/** The view of a stored message row `m` joined with its author `u`, for `viewer`. */
const storedView = (viewer: string) =>
  messageView({
    id: 'm.id',
    channelId: 'm.channel_id',
    authorId: 'm.author_id',
    username: 'u.username',
    displayName: 'u.display_name',
    content: 'm.content',
    nonce: 'm.nonce',
    parentId: 'm.parent_id',
    mentions: 'm.mentions',
    reactions: reactionsOf('m', viewer),
    createdAt: 'm.created_at',
    editedAt: 'm.edited_at',
  });

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

    // The serialised part of posting, for n posts to one channel at once (n = 1 without contention).
    // One row per post, in order: status created | replay | mismatch | forbidden | not_found |
    // archived | bad_parent. Statements run one after another inside, each with a fresh snapshot
    // (READ COMMITTED), after the channel lock: the nonce check sees every committed post.
    await q.query(`
      CREATE FUNCTION post_messages(p_channel bigint, p_authors bigint[], p_contents text[], p_nonces text[],
                                    p_parents bigint[], p_mentions text[])
      RETURNS TABLE (status text, message_id text, event_id text, event_seq bigint, event_created_at text, body text)
      LANGUAGE plpgsql AS $$
      DECLARE
        v_kind text;
        v_archived boolean;
        v_seq bigint;
        v_first_seq bigint;
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
      BEGIN
        SELECT c.kind, c.archived_at IS NOT NULL, c.last_seq INTO v_kind, v_archived, v_seq
          FROM channels c WHERE c.id = p_channel FOR NO KEY UPDATE;
        IF NOT FOUND THEN
          RETURN QUERY SELECT 'not_found'::text, NULL::text, NULL::text, NULL::bigint, NULL::text, NULL::text
            FROM generate_series(1, coalesce(array_length(p_authors, 1), 0));
          RETURN;
        END IF;
        v_first_seq := v_seq;
        FOR i IN 1..coalesce(array_length(p_authors, 1), 0) LOOP
          status := NULL; message_id := NULL; event_id := NULL; event_seq := NULL; event_created_at := NULL; body := NULL;
          v_member := false;
          SELECT u.username, u.display_name,
                 EXISTS (SELECT 1 FROM channel_members cm WHERE cm.channel_id = p_channel AND cm.user_id = u.id)
            INTO v_username, v_display, v_member
            FROM users u WHERE u.id = p_authors[i];
          IF NOT coalesce(v_member, false) THEN
            status := CASE WHEN v_kind = 'public' THEN 'forbidden' ELSE 'not_found' END;
            RETURN NEXT; CONTINUE;
          END IF;
          IF p_nonces[i] IS NOT NULL THEN
            SELECT m.id, m.content, m.parent_id INTO v_prior
              FROM messages m WHERE m.author_id = p_authors[i] AND m.channel_id = p_channel AND m.nonce = p_nonces[i];
            IF FOUND THEN
              status := CASE WHEN v_prior.content = p_contents[i] AND v_prior.parent_id IS NOT DISTINCT FROM p_parents[i]
                             THEN 'replay' ELSE 'mismatch' END;
              message_id := v_prior.id::text;
              RETURN NEXT; CONTINUE;
            END IF;
          END IF;
          IF v_archived THEN status := 'archived'; RETURN NEXT; CONTINUE; END IF;
          IF p_parents[i] IS NOT NULL THEN
            SELECT m.parent_id INTO v_grandparent FROM messages m WHERE m.id = p_parents[i] AND m.channel_id = p_channel;
            IF NOT FOUND OR v_grandparent IS NOT NULL THEN status := 'bad_parent'; RETURN NEXT; CONTINUE; END IF;
          END IF;
          v_mentions := '{}';
          IF coalesce(p_mentions[i], '') <> '' THEN v_mentions := resolve_mentions(p_channel, p_mentions[i]); END IF;
          INSERT INTO messages (channel_id, author_id, content, nonce, parent_id, mentions)
          VALUES (p_channel, p_authors[i], p_contents[i], p_nonces[i], p_parents[i], v_mentions)
          RETURNING messages.id, messages.created_at INTO v_id, v_at;
          v_view := ${messageView({
            id: 'v_id',
            channelId: 'p_channel',
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
          })};
          v_seq := v_seq + 1;
          SELECT s.event_id, s.event_created_at INTO v_event
            FROM store_event(p_channel, v_seq, 'message.created', v_view, '{}') s;
          status := 'created';
          message_id := v_id::text;
          event_id := v_event.event_id::text;
          event_seq := v_seq;
          event_created_at := ${iso('v_event.event_created_at')};
          body := v_view::text;
          RETURN NEXT;
        END LOOP;
        IF v_seq <> v_first_seq THEN UPDATE channels SET last_seq = v_seq WHERE id = p_channel; END IF;
      END $$`);

    // Messages by id as a JSON array in the order given (absent ids are skipped).
    await q.query(`
      CREATE FUNCTION message_views(p_viewer bigint, p_ids bigint[]) RETURNS text LANGUAGE sql STABLE AS $$
        SELECT coalesce(json_agg(${storedView('p_viewer')} ORDER BY x.ord), '[]'::json)::text
          FROM unnest(p_ids) WITH ORDINALITY x(id, ord)
          JOIN messages m ON m.id = x.id
          JOIN users u ON u.id = m.author_id
      $$`);

    // A page of a channel's history for a viewer, access check included: status ok | forbidden |
    // not_found, and the page as JSON text (newest first; with p_after, the oldest first after it).
    await q.query(`
      CREATE FUNCTION message_page(p_viewer bigint, p_channel bigint, p_before bigint, p_after bigint, p_limit int,
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
          SELECT coalesce(json_agg(p.view ORDER BY p.id), '[]'::json)::text INTO body
            FROM (SELECT m.id, ${storedView('p_viewer')} AS view
                    FROM messages m JOIN users u ON u.id = m.author_id
                   WHERE m.channel_id = p_channel AND m.id > p_after ORDER BY m.id LIMIT p_limit) p;
        ELSE
          SELECT coalesce(json_agg(p.view ORDER BY p.id DESC), '[]'::json)::text INTO body
            FROM (SELECT m.id, ${storedView('p_viewer')} AS view
                    FROM messages m JOIN users u ON u.id = m.author_id
                   WHERE m.channel_id = p_channel AND (p_before IS NULL OR m.id < p_before)
                   ORDER BY m.id DESC LIMIT p_limit) p;
        END IF;
      END $$`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`SET LOCAL statement_timeout = 0`);
    await q.query(`SET LOCAL lock_timeout = 0`);
    await q.query(`DROP FUNCTION message_page(bigint, bigint, bigint, bigint, int)`);
    await q.query(`DROP FUNCTION message_views(bigint, bigint[])`);
    await q.query(`DROP FUNCTION post_messages(bigint, bigint[], text[], text[], bigint[], text[])`);
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
