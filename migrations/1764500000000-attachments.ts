import { MigrationInterface, QueryRunner } from 'typeorm';
import {
  messageReadFunctions,
  POST_DECLARE,
  postView,
  POST_EPILOGUE,
  POST_PRELUDE,
} from './1764300000000-write-path';

/**
 * post_messages with attachments: p_attachments holds, per post, its attachment ids comma-separated
 * (NULL: none). Before writing a post with attachments, its uploads are locked (in id order) and
 * must all be the author's and not attached yet, else the post answers bad_attachment and writes
 * nothing; a concurrent attach of the same upload waits for the lock and then finds it attached.
 * A nonce replay compares the attachment ids too (same ids in the same order: replay).
 */
const POST_MESSAGES_V2 = `
      CREATE FUNCTION post_messages(p_channels bigint[], p_authors bigint[], p_contents text[], p_nonces text[],
                                    p_parents bigint[], p_mentions text[], p_attachments text[], p_wait boolean)
      RETURNS TABLE (status text, message_id text, event_id text, event_seq bigint, event_created_at text, body text)
      LANGUAGE plpgsql AS $$
      DECLARE
${POST_DECLARE}        v_att_ids bigint[];
        v_atts jsonb;
        v_att_count int;
      BEGIN
${POST_PRELUDE}          v_att_ids := coalesce(string_to_array(nullif(p_attachments[i], ''), ',')::bigint[], '{}');
          IF p_nonces[i] IS NOT NULL THEN
            -- Planned each time (EXECUTE): a plan cached while the table was small can settle on the
            -- (channel_id, id) index and then read every message of a hot channel for each post.
            EXECUTE 'SELECT m.id, m.content, m.parent_id,
                            ARRAY(SELECT (e->>''id'')::bigint FROM jsonb_array_elements(m.attachments) e) AS att_ids
                       FROM messages m
                      WHERE m.author_id = $1 AND m.channel_id = $2 AND m.nonce = $3'
              INTO v_prior USING p_authors[i], v_channel, p_nonces[i];
            IF v_prior.id IS NOT NULL THEN
              status := CASE WHEN v_prior.content = p_contents[i] AND v_prior.parent_id IS NOT DISTINCT FROM p_parents[i]
                                  AND v_prior.att_ids = v_att_ids
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
          v_atts := '[]'::jsonb;
          IF cardinality(v_att_ids) > 0 THEN
            -- Locked in id order; a row attached (or swept) meanwhile no longer matches once the lock is granted.
            PERFORM 1 FROM attachments a
              WHERE a.id = ANY(v_att_ids) AND a.owner_id = p_authors[i] AND a.attached_at IS NULL
              ORDER BY a.id FOR UPDATE;
            SELECT count(*)::int,
                   coalesce(jsonb_agg(jsonb_build_object('id', a.id::text, 'filename', a.filename,
                                                         'contentType', a.content_type, 'size', a.size, 'key', a.key)
                                      ORDER BY x.ord), '[]'::jsonb)
              INTO v_att_count, v_atts
              FROM unnest(v_att_ids) WITH ORDINALITY x(id, ord)
              JOIN attachments a ON a.id = x.id
             WHERE a.owner_id = p_authors[i] AND a.attached_at IS NULL;
            IF v_att_count <> cardinality(v_att_ids) THEN status := 'bad_attachment'; RETURN NEXT; CONTINUE; END IF;
          END IF;
          v_mentions := '{}';
          IF coalesce(p_mentions[i], '') <> '' THEN v_mentions := resolve_mentions(v_channel, p_mentions[i]); END IF;
          INSERT INTO messages (channel_id, author_id, content, nonce, parent_id, mentions, attachments)
          VALUES (v_channel, p_authors[i], p_contents[i], p_nonces[i], p_parents[i], v_mentions, v_atts)
          RETURNING messages.id, messages.created_at INTO v_id, v_at;
          IF cardinality(v_att_ids) > 0 THEN
            UPDATE attachments SET message_id = v_id, attached_at = v_at WHERE id = ANY(v_att_ids);
          END IF;
          v_view := ${postView('v_atts::json')};
${POST_EPILOGUE}      END $$`;

/**
 * Attachments (issue 9), expand only: older releases never read the new table or column, and keep
 * calling the 7-argument post_messages, which stays (messages they post have no attachments).
 * - `attachments`: one row per upload slot. `message_id` null and `attached_at` null: uploaded (or
 *   not yet) and not attached, deleted with its object after the grace period; `attached_at` set
 *   and `message_id` null: its message was deleted (ON DELETE SET NULL), the object goes at once.
 * - `messages.attachments`: the message's attachments as the view shows them, with the object
 *   `key` instead of a URL (URLs are signed when the message leaves the server).
 */
export class Attachments1764500000000 implements MigrationInterface {
  name = 'Attachments1764500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE attachments (
        id bigint NOT NULL DEFAULT next_snowflake(),
        owner_id bigint NOT NULL,
        key varchar(128) NOT NULL,
        filename varchar(255) NOT NULL,
        content_type varchar(255) NOT NULL,
        size bigint NOT NULL,
        message_id bigint,
        created_at timestamptz NOT NULL DEFAULT now(),
        attached_at timestamptz,
        CONSTRAINT attachments_pkey PRIMARY KEY (id),
        CONSTRAINT attachments_key_key UNIQUE (key),
        CONSTRAINT attachments_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES users (id) ON DELETE CASCADE,
        CONSTRAINT attachments_message_id_fkey FOREIGN KEY (message_id) REFERENCES messages (id) ON DELETE SET NULL
      )`);
    await q.query(`CREATE INDEX attachments_message_id_idx ON attachments (message_id)`);
    await q.query(
      `CREATE INDEX attachments_unattached_idx ON attachments (created_at) WHERE message_id IS NULL`,
    );
    await q.query(`ALTER TABLE messages ADD COLUMN attachments jsonb NOT NULL DEFAULT '[]'`);
    // An overload beside the old one: replicas of the previous release keep posting during a rollout.
    await q.query(POST_MESSAGES_V2);
    for (const sql of messageReadFunctions('CREATE OR REPLACE', 'm.attachments::json')) await q.query(sql);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const sql of messageReadFunctions('CREATE OR REPLACE')) await q.query(sql);
    await q.query(
      `DROP FUNCTION post_messages(bigint[], bigint[], text[], text[], bigint[], text[], text[], boolean)`,
    );
    await q.query(`ALTER TABLE messages DROP COLUMN attachments`);
    await q.query(`DROP TABLE attachments`);
  }
}
