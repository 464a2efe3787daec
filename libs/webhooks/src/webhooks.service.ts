import { Injectable } from '@nestjs/common';
import { bigintArray, Db, isSnowflake, PageQuery, ValidationError } from '@cariosan/core';
import type { AuthenticatedUser } from '@cariosan/users';
import { DeliveryWorker } from './delivery/delivery-worker';
import { SecretBox } from './delivery/secret-box';
import { newWebhookSecret } from './delivery/signing';
import type {
  CreatedWebhookResponse,
  CreateWebhookDto,
  DeliveryAttemptResponse,
  UpdateWebhookDto,
  WebhookResponse,
} from './dto/webhook.dto';
import { WebhooksError, WebhooksErrorCode } from './webhooks.errors';

const MAX_PER_USER = 100;
/** After a rotation the old secret keeps signing this long, so receivers can switch without losing events. */
const ROTATION_OVERLAP = '24 hours';
const ISO = `'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`;

const VIEW_COLUMNS = `w.id::text, w.url, w.events, w.channel_ids::text[] AS channel_ids, w.description, w.enabled,
  w.disabled_reason, to_char(w.failing_since AT TIME ZONE 'UTC', ${ISO}) AS failing_since,
  to_char(w.created_at AT TIME ZONE 'UTC', ${ISO}) AS created_at`;

interface WebhookRow {
  id: string;
  url: string;
  events: string[];
  channel_ids: string[] | null;
  description: string;
  enabled: boolean;
  disabled_reason: string | null;
  failing_since: string | null;
  created_at: string;
}

function toView(r: WebhookRow): WebhookResponse {
  return {
    id: r.id,
    url: r.url,
    events: r.events,
    channelIds: r.channel_ids,
    description: r.description,
    enabled: r.enabled,
    disabledReason: r.disabled_reason,
    failingSince: r.failing_since,
    createdAt: r.created_at,
  };
}

/** Outgoing webhooks of a user: create, read, change, delete, rotate, the delivery log and redelivery. */
@Injectable()
export class WebhooksService {
  constructor(
    private readonly db: Db,
    private readonly secrets: SecretBox,
    private readonly worker: DeliveryWorker,
  ) {}

  async create(me: AuthenticatedUser, dto: CreateWebhookDto): Promise<CreatedWebhookResponse> {
    await this.checkChannels(me, dto.channelIds);
    const secret = newWebhookSecret();
    const [row] = await this.db.query<WebhookRow>(
      `INSERT INTO webhooks AS w (owner_id, url, events, channel_ids, description, secret)
       SELECT $1, $2, $3::text[], $4::bigint[], $5, $6
        WHERE (SELECT count(*) FROM webhooks x WHERE x.owner_id = $1) < ${MAX_PER_USER}
       RETURNING ${VIEW_COLUMNS}`,
      [
        me.id,
        dto.url,
        dto.events,
        dto.channelIds ? bigintArray(dto.channelIds) : null,
        dto.description ?? '',
        this.secrets.seal(secret),
      ],
    );
    if (!row) throw new WebhooksError(WebhooksErrorCode.TooManyWebhooks);
    this.worker.noteWebhooks();
    return { ...toView(row), secret };
  }

  async list(me: AuthenticatedUser): Promise<WebhookResponse[]> {
    const rows = await this.db.query<WebhookRow>(
      `SELECT ${VIEW_COLUMNS} FROM webhooks w WHERE w.owner_id = $1 ORDER BY w.id`,
      [me.id],
    );
    return rows.map(toView);
  }

  async get(me: AuthenticatedUser, id: string): Promise<WebhookResponse> {
    return toView(await this.own(me, id));
  }

  async update(me: AuthenticatedUser, id: string, dto: UpdateWebhookDto): Promise<WebhookResponse> {
    await this.own(me, id);
    if (dto.channelIds) await this.checkChannels(me, dto.channelIds);
    const [row] = await this.db.query<WebhookRow>(
      `UPDATE webhooks w SET
         url = coalesce($3, w.url),
         events = coalesce($4::text[], w.events),
         channel_ids = CASE WHEN $5::boolean THEN $6::bigint[] ELSE w.channel_ids END,
         description = coalesce($7, w.description),
         enabled = coalesce($8, w.enabled),
         disabled_reason = CASE WHEN $8 IS NULL THEN w.disabled_reason ELSE NULL END,
         failing_since = CASE WHEN $8 THEN NULL ELSE w.failing_since END
       WHERE w.id = $1 AND w.owner_id = $2
       RETURNING ${VIEW_COLUMNS}`,
      [
        id,
        me.id,
        dto.url ?? null,
        dto.events ?? null,
        dto.channelIds !== undefined,
        dto.channelIds ? bigintArray(dto.channelIds) : null,
        dto.description ?? null,
        dto.enabled ?? null,
      ],
    );
    if (!row) throw new WebhooksError(WebhooksErrorCode.WebhookNotFound);
    if (row.enabled) this.worker.noteWebhooks(dto.enabled === true);
    return toView(row);
  }

  async delete(me: AuthenticatedUser, id: string): Promise<void> {
    if (!isSnowflake(id)) throw new WebhooksError(WebhooksErrorCode.WebhookNotFound);
    const rows = await this.db.query(`DELETE FROM webhooks WHERE id = $1 AND owner_id = $2 RETURNING id`, [
      id,
      me.id,
    ]);
    if (rows.length === 0) throw new WebhooksError(WebhooksErrorCode.WebhookNotFound);
  }

  /** A new secret; the current one keeps signing (beside it) for 24 hours. */
  async rotateSecret(me: AuthenticatedUser, id: string): Promise<{ secret: string }> {
    if (!isSnowflake(id)) throw new WebhooksError(WebhooksErrorCode.WebhookNotFound);
    const secret = newWebhookSecret();
    const rows = await this.db.query(
      `UPDATE webhooks SET previous_secret = secret, previous_secret_until = now() + interval '${ROTATION_OVERLAP}',
              secret = $3
        WHERE id = $1 AND owner_id = $2 RETURNING id`,
      [id, me.id, this.secrets.seal(secret)],
    );
    if (rows.length === 0) throw new WebhooksError(WebhooksErrorCode.WebhookNotFound);
    return { secret };
  }

  /** The delivery log, one entry per attempt, newest first. */
  async attempts(me: AuthenticatedUser, id: string, page: PageQuery): Promise<DeliveryAttemptResponse[]> {
    await this.own(me, id);
    const rows = await this.db.query<DeliveryAttemptResponse>(
      `SELECT a.id::text, a.event_id::text AS "eventId", a.type, a.attempt, a.status, a.response_status AS "responseStatus",
              a.error, a.duration_ms AS "durationMs", to_char(a.created_at AT TIME ZONE 'UTC', ${ISO}) AS "createdAt"
         FROM webhook_attempts a
        WHERE a.webhook_id = $1 AND ($2::bigint IS NULL OR a.id < $2::bigint)
        ORDER BY a.id DESC LIMIT $3`,
      [id, page.before ?? null, page.limit],
    );
    return rows;
  }

  /** Queues the event for delivery again now, with a fresh retry schedule and the same webhook-id. */
  async redeliver(me: AuthenticatedUser, id: string, eventId: string): Promise<void> {
    await this.own(me, id);
    if (!isSnowflake(eventId)) throw new WebhooksError(WebhooksErrorCode.DeliveryNotFound);
    const rows = await this.db.query(
      `UPDATE webhook_deliveries SET status = 'pending', failures = 0, next_attempt_at = now(), updated_at = now()
        WHERE webhook_id = $1 AND event_id = $2 RETURNING id`,
      [id, eventId],
    );
    if (rows.length === 0) throw new WebhooksError(WebhooksErrorCode.DeliveryNotFound);
    this.worker.noteWebhooks(true);
  }

  private async own(me: AuthenticatedUser, id: string): Promise<WebhookRow> {
    if (!isSnowflake(id)) throw new WebhooksError(WebhooksErrorCode.WebhookNotFound);
    const [row] = await this.db.query<WebhookRow>(
      `SELECT ${VIEW_COLUMNS} FROM webhooks w WHERE w.id = $1 AND w.owner_id = $2`,
      [id, me.id],
    );
    if (!row) throw new WebhooksError(WebhooksErrorCode.WebhookNotFound);
    return row;
  }

  /** Each filtered channel must be one the caller is a member of (the same answer whether it exists or not). */
  private async checkChannels(
    me: AuthenticatedUser,
    channelIds: readonly string[] | null | undefined,
  ): Promise<void> {
    if (!channelIds?.length) return;
    const rows = await this.db.query<{ id: string }>(
      `SELECT channel_id::text AS id FROM channel_members WHERE user_id = $1 AND channel_id = ANY($2::bigint[])`,
      [me.id, bigintArray(channelIds)],
    );
    const mine = new Set(rows.map((r) => r.id));
    const details = channelIds
      .map((c, i) => ({ c, i }))
      .filter(({ c }) => !mine.has(c))
      .map(({ i }) => ({ field: `channelIds.${i}`, message: 'not a channel the caller is a member of' }));
    if (details.length) throw new ValidationError(details);
  }
}
