import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { AppConfig, bigintArray, Db, type DomainEventType } from '@cariosan/core';

/** A worker's claim on a lease: it must finish well within it (15 s per request at most). */
export const LEASE_MS = 30_000;

export interface ClaimedDelivery {
  id: string;
  leaseToken: string;
  webhookId: string;
  eventId: string;
  channelId: string;
  type: DomainEventType;
  payload: string;
  createdAt: string;
  attempts: number;
  failures: number;
  url: string;
  secret: string;
  previousSecret: string | null;
  /** The owner is a member of the event's channel now. */
  readable: boolean;
}

/** One attempt's result, as the worker decided it. */
export interface AttemptRecord {
  id: string;
  leaseToken: string;
  /** The delivery's state afterwards. */
  next: 'pending' | 'delivered' | 'failed' | 'skipped';
  /** For `pending`: the delay until the next attempt. */
  delayMs: number;
  /** What the log says of this attempt. */
  logged: 'delivered' | 'failed' | 'refused' | 'timeout' | 'skipped';
  responseStatus: number | null;
  error: string | null;
  durationMs: number;
  /** The endpoint answered 410 Gone: disable it. */
  gone: boolean;
}

/** Finished deliveries (and their log) are kept this long, for the log and for redelivery. */
export const RETENTION_DAYS = 30;

const ISO = `'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`;

/** Due rows looked at per endpoint and claim: the cost of a claim stays bounded whatever the backlog. */
const SCAN_PER_ENDPOINT = 200;

/**
 * Due pending deliveries, per enabled endpoint at most `$3` less what this replica has in flight
 * for it (`$4`/`$5`), so every endpoint gets its share whatever the others' backlogs; each one the
 * first of its endpoint and channel that is not waiting on a retry (events of one channel go to
 * one endpoint in seq order while it is healthy: a delivery waits while an earlier one of its
 * channel is untried or in flight, not while one waits for its retry). Claimed with FOR UPDATE
 * SKIP LOCKED and a lease; a lease past its time is taken over.
 */
const CLAIM_SQL = `
  WITH ranked AS (
    SELECT x.id, x.next_attempt_at
      FROM webhooks w
      LEFT JOIN unnest($4::bigint[], $5::int[]) AS f(webhook_id, busy) ON f.webhook_id = w.id
      CROSS JOIN LATERAL (
        SELECT d.id, d.next_attempt_at
          FROM (SELECT * FROM webhook_deliveries d0
                 WHERE d0.webhook_id = w.id AND d0.status = 'pending' AND d0.next_attempt_at <= now()
                 ORDER BY d0.next_attempt_at LIMIT ${SCAN_PER_ENDPOINT}) d
         WHERE (d.lease_until IS NULL OR d.lease_until < now())
           AND NOT EXISTS (
             SELECT 1 FROM webhook_deliveries e
              WHERE e.webhook_id = d.webhook_id AND e.channel_id = d.channel_id AND e.status = 'pending'
                AND e.seq < d.seq AND (e.attempts = 0 OR e.lease_until >= now()))
         ORDER BY d.next_attempt_at
         LIMIT greatest(0, $3::int - coalesce(f.busy, 0))) x
     WHERE w.enabled
  ), picked AS (
    SELECT d.id FROM webhook_deliveries d JOIN ranked r ON r.id = d.id
     WHERE d.status = 'pending' AND (d.lease_until IS NULL OR d.lease_until < now())
     ORDER BY d.next_attempt_at
     LIMIT $2
       FOR UPDATE OF d SKIP LOCKED
  ), claimed AS (
    UPDATE webhook_deliveries d
       SET lease_until = now() + ${LEASE_MS} * interval '1 millisecond', lease_token = $1
      FROM picked WHERE d.id = picked.id
    RETURNING d.id, d.webhook_id, d.event_id, d.channel_id, d.type, d.payload, d.event_created_at, d.attempts, d.failures
  )
  SELECT c.id::text, c.webhook_id::text, c.event_id::text, c.channel_id::text, c.type, c.payload::text AS payload,
         to_char(c.event_created_at AT TIME ZONE 'UTC', ${ISO}) AS created_at, c.attempts, c.failures,
         w.url, w.secret, CASE WHEN w.previous_secret_until > now() THEN w.previous_secret END AS previous_secret,
         EXISTS (SELECT 1 FROM channel_members cm WHERE cm.channel_id = c.channel_id AND cm.user_id = w.owner_id) AS readable
    FROM claimed c JOIN webhooks w ON w.id = c.webhook_id`;

/**
 * Attempts' results in one statement: each delivery's new state (only while the lease is still
 * ours), one log row per attempt, and the endpoints' health: a success ends a run of failures; a
 * failure starts one or, past CARIOS_WEBHOOK_DISABLE_AFTER, disables the endpoint with its
 * reason; a 410 disables it at once.
 */
const RECORD_SQL = `
  WITH r AS (
    SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[], $5::text[], $6::int[], $7::text[], $8::int[], $9::boolean[])
             AS r(id, token, next, delay_ms, logged, response_status, error, duration_ms, gone)
  ), upd AS (
    UPDATE webhook_deliveries d
       SET status = r.next,
           attempts = d.attempts + CASE WHEN r.logged = 'skipped' THEN 0 ELSE 1 END,
           failures = CASE WHEN r.next = 'delivered' THEN 0 WHEN r.logged = 'skipped' THEN d.failures ELSE d.failures + 1 END,
           next_attempt_at = CASE WHEN r.next = 'pending' THEN now() + r.delay_ms * interval '1 millisecond' ELSE d.next_attempt_at END,
           lease_until = NULL, lease_token = NULL, updated_at = now()
      FROM r
     WHERE d.id = r.id AND d.lease_token = r.token
    RETURNING d.id, d.webhook_id, d.event_id, d.type, d.attempts, r.logged, r.response_status, r.error, r.duration_ms, r.gone
  ), log AS (
    INSERT INTO webhook_attempts (webhook_id, delivery_id, event_id, type, attempt, status, response_status, error, duration_ms)
    SELECT upd.webhook_id, upd.id, upd.event_id, upd.type, greatest(upd.attempts, 1), upd.logged, upd.response_status,
           upd.error, upd.duration_ms
      FROM upd
  ), health AS (
    SELECT webhook_id, bool_or(logged = 'delivered') AS ok, bool_or(gone) AS gone
      FROM upd WHERE logged <> 'skipped' GROUP BY webhook_id
  )
  UPDATE webhooks w
     SET failing_since = CASE WHEN h.ok THEN NULL ELSE coalesce(w.failing_since, now()) END,
         enabled = w.enabled AND NOT h.gone
                   AND (h.ok OR coalesce(w.failing_since, now()) > now() - $10::bigint * interval '1 millisecond'),
         disabled_reason = CASE
           WHEN NOT w.enabled THEN w.disabled_reason
           WHEN h.gone THEN 'the endpoint answered 410 Gone'
           WHEN NOT h.ok AND coalesce(w.failing_since, now()) <= now() - $10::bigint * interval '1 millisecond'
             THEN 'deliveries failed since ' || to_char(w.failing_since AT TIME ZONE 'UTC', ${ISO})
                  || ' (longer than CARIOS_WEBHOOK_DISABLE_AFTER)'
           ELSE w.disabled_reason END
    FROM health h
   WHERE w.id = h.webhook_id
     -- A healthy endpoint's row is written only when its state changes, not on every batch.
     AND (NOT h.ok OR h.gone OR w.failing_since IS NOT NULL)`;

/** The SQL side of delivering: claiming due deliveries and recording attempts. */
@Injectable()
export class DeliveryStore {
  constructor(
    private readonly db: Db,
    private readonly config: AppConfig,
  ) {}

  async claim(
    limit: number,
    perEndpoint: number,
    inFlight: ReadonlyMap<string, number>,
  ): Promise<ClaimedDelivery[]> {
    const token = randomUUID();
    const busy = [...inFlight.entries()].filter(([, n]) => n > 0);
    const rows = await this.db.query<{
      id: string;
      webhook_id: string;
      event_id: string;
      channel_id: string;
      type: DomainEventType;
      payload: string;
      created_at: string;
      attempts: number;
      failures: number;
      url: string;
      secret: string;
      previous_secret: string | null;
      readable: boolean;
    }>(CLAIM_SQL, [
      token,
      limit,
      perEndpoint,
      bigintArray(busy.map(([id]) => id)),
      `{${busy.map(([, n]) => n).join(',')}}`,
    ]);
    return rows.map((r) => ({
      id: r.id,
      leaseToken: token,
      webhookId: r.webhook_id,
      eventId: r.event_id,
      channelId: r.channel_id,
      type: r.type,
      payload: r.payload,
      createdAt: r.created_at,
      attempts: r.attempts,
      failures: r.failures,
      url: r.url,
      secret: r.secret,
      previousSecret: r.previous_secret,
      readable: r.readable,
    }));
  }

  /** Whether any webhook is enabled (else commits need not wake the workers). */
  async anyEnabled(): Promise<boolean> {
    const [row] = await this.db.query<{ any: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM webhooks WHERE enabled) AS any`,
    );
    return row?.any ?? true;
  }

  /**
   * Deletes finished deliveries (delivered, failed for good, skipped) older than 30 days, with
   * their attempts, a batch at a time (one short statement; the next round takes the rest).
   */
  async prune(): Promise<number> {
    const rows = await this.db.query(
      `DELETE FROM webhook_deliveries WHERE id IN (
         SELECT id FROM webhook_deliveries
          WHERE id < snowflake_at(now() - interval '${RETENTION_DAYS} days') AND status <> 'pending'
          LIMIT 5000)
       RETURNING 1`,
    );
    return rows.length;
  }

  async record(records: readonly AttemptRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.db.query(RECORD_SQL, [
      bigintArray(records.map((r) => r.id)),
      records.map((r) => r.leaseToken),
      records.map((r) => r.next),
      records.map((r) => r.delayMs),
      records.map((r) => r.logged),
      records.map((r) => r.responseStatus),
      records.map((r) => r.error),
      records.map((r) => r.durationMs),
      records.map((r) => r.gone),
      this.config.webhookDisableAfterMs,
    ]);
  }
}
