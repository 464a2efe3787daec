import { MigrationInterface, QueryRunner } from 'typeorm';

/** store_event as the write-path migration left it (restored by down). */
const STORE_EVENT_HEAD = `
  CREATE OR REPLACE FUNCTION store_event(p_channel bigint, p_seq bigint, p_type text, p_payload json, p_notify bigint[],
                                         OUT event_id bigint, OUT event_created_at timestamptz)
  LANGUAGE plpgsql AS $$
  BEGIN
    event_id := next_snowflake();
    event_created_at := now();
    INSERT INTO outbox (id, channel_id, seq, type, payload, notify_user_ids, created_at)
    VALUES (event_id, p_channel, p_seq, p_type, p_payload, coalesce(p_notify, '{}'), event_created_at);
    INSERT INTO outbox_pending (id) VALUES (event_id);`;

/**
 * Outgoing and incoming webhooks (issue 11).
 * - `webhooks`: endpoints, their filters, secrets (the previous one signs until
 *   previous_secret_until after a rotation), and health (failing_since, disabled_reason).
 * - `webhook_deliveries`: one row per endpoint and event with a copy of the payload, written by
 *   store_event in the event's own transaction, so it outlives the outbox's retention. Workers
 *   claim due rows with FOR UPDATE SKIP LOCKED and a lease (lease_until, lease_token).
 * - `webhook_attempts`: the delivery log, one row per attempt.
 * - `incoming_webhooks`: a channel's incoming hooks, each posting as its own bot user; the token
 *   is stored as its SHA-256.
 */
export class Webhooks1764600000000 implements MigrationInterface {
  name = 'Webhooks1764600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE webhooks (
        id bigint NOT NULL DEFAULT next_snowflake(),
        owner_id bigint NOT NULL,
        url varchar(2048) NOT NULL,
        events text[] NOT NULL,
        channel_ids bigint[],
        description varchar(500) NOT NULL DEFAULT '',
        secret text NOT NULL,
        previous_secret text,
        previous_secret_until timestamptz,
        enabled boolean NOT NULL DEFAULT true,
        disabled_reason text,
        failing_since timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT webhooks_pkey PRIMARY KEY (id),
        CONSTRAINT webhooks_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES users (id) ON DELETE CASCADE
      )`);
    await q.query(`CREATE INDEX webhooks_owner_id_id_idx ON webhooks (owner_id, id)`);

    await q.query(`
      CREATE TABLE webhook_deliveries (
        id bigint NOT NULL DEFAULT next_snowflake(),
        webhook_id bigint NOT NULL,
        event_id bigint NOT NULL,
        channel_id bigint NOT NULL,
        seq bigint NOT NULL,
        type varchar(64) NOT NULL,
        payload json NOT NULL,
        event_created_at timestamptz NOT NULL,
        status varchar(16) NOT NULL DEFAULT 'pending',
        attempts integer NOT NULL DEFAULT 0,
        failures integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        lease_until timestamptz,
        lease_token varchar(36),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT webhook_deliveries_pkey PRIMARY KEY (id),
        CONSTRAINT webhook_deliveries_webhook_id_event_id_key UNIQUE (webhook_id, event_id),
        CONSTRAINT webhook_deliveries_webhook_id_fkey FOREIGN KEY (webhook_id) REFERENCES webhooks (id) ON DELETE CASCADE
      )`);
    // What workers claim: each endpoint's pending rows by due time.
    await q.query(
      `CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (webhook_id, next_attempt_at) WHERE status = 'pending'`,
    );
    // Per endpoint and channel, the pending events in seq order (a delivery waits for its predecessor).
    await q.query(
      `CREATE INDEX webhook_deliveries_queue_idx ON webhook_deliveries (webhook_id, channel_id, seq) WHERE status = 'pending'`,
    );
    // The oldest pending delivery's age (/metrics).
    await q.query(
      `CREATE INDEX webhook_deliveries_pending_created_idx ON webhook_deliveries (created_at) WHERE status = 'pending'`,
    );

    await q.query(`
      CREATE TABLE webhook_attempts (
        id bigint NOT NULL DEFAULT next_snowflake(),
        webhook_id bigint NOT NULL,
        delivery_id bigint NOT NULL,
        event_id bigint NOT NULL,
        type varchar(64) NOT NULL,
        attempt integer NOT NULL,
        status varchar(16) NOT NULL,
        response_status integer,
        error text,
        duration_ms integer NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT webhook_attempts_pkey PRIMARY KEY (id),
        CONSTRAINT webhook_attempts_delivery_id_fkey FOREIGN KEY (delivery_id) REFERENCES webhook_deliveries (id) ON DELETE CASCADE
      )`);
    await q.query(`CREATE INDEX webhook_attempts_webhook_id_id_idx ON webhook_attempts (webhook_id, id)`);
    await q.query(`CREATE INDEX webhook_attempts_delivery_id_idx ON webhook_attempts (delivery_id)`);

    await q.query(`
      CREATE TABLE incoming_webhooks (
        id bigint NOT NULL DEFAULT next_snowflake(),
        channel_id bigint NOT NULL,
        bot_user_id bigint NOT NULL,
        name varchar(80) NOT NULL,
        token_hash bytea NOT NULL,
        created_by bigint,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT incoming_webhooks_pkey PRIMARY KEY (id),
        CONSTRAINT incoming_webhooks_channel_id_fkey FOREIGN KEY (channel_id) REFERENCES channels (id) ON DELETE CASCADE,
        CONSTRAINT incoming_webhooks_bot_user_id_fkey FOREIGN KEY (bot_user_id) REFERENCES users (id) ON DELETE CASCADE,
        CONSTRAINT incoming_webhooks_created_by_fkey FOREIGN KEY (created_by) REFERENCES users (id) ON DELETE SET NULL
      )`);
    await q.query(`CREATE INDEX incoming_webhooks_channel_id_id_idx ON incoming_webhooks (channel_id, id)`);

    // Every stored event gets its webhook deliveries in the same transaction: one per enabled
    // endpoint subscribed to its type (and channel) whose owner is a member of the channel now.
    await q.query(`${STORE_EVENT_HEAD}
        INSERT INTO webhook_deliveries (webhook_id, event_id, channel_id, seq, type, payload, event_created_at)
        SELECT w.id, store_event.event_id, p_channel, p_seq, p_type, p_payload, store_event.event_created_at
          FROM webhooks w
         WHERE w.enabled AND p_type = ANY (w.events)
           AND (w.channel_ids IS NULL OR p_channel = ANY (w.channel_ids))
           AND EXISTS (SELECT 1 FROM channel_members cm WHERE cm.channel_id = p_channel AND cm.user_id = w.owner_id);
      END $$`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`${STORE_EVENT_HEAD}
      END $$`);
    await q.query(`DROP TABLE incoming_webhooks`);
    await q.query(`DROP TABLE webhook_attempts`);
    await q.query(`DROP TABLE webhook_deliveries`);
    await q.query(`DROP TABLE webhooks`);
  }
}
