import { Injectable, Optional } from '@nestjs/common';
import { AttachmentUrls } from '@cariosan/attachments';
import {
  bigintArray,
  type ChannelKind,
  type ChannelView,
  Db,
  type DomainEventType,
  snowflakeAt,
} from '@cariosan/core';
import { type GatewayEvent, makeEvent } from './gateway-event';

/** Most outbox rows one read returns per channel; callers page on. */
export const EVENT_PAGE = 1000;

interface OutboxRow {
  id: string;
  channel_id: string;
  seq: string;
  type: DomainEventType;
  /** The stored JSON text, passed through. */
  payload: string;
  created_at: string;
}

const EVENT_COLUMNS = `o.id::text AS id, o.channel_id::text AS channel_id, o.seq::text AS seq, o.type,
  o.payload::text AS payload, to_char(o.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created_at`;

const toEvent = (r: OutboxRow): GatewayEvent =>
  makeEvent(r.id, r.type, r.channel_id, Number(r.seq), 0, r.created_at, r.payload);

export interface MemberChannel {
  view: ChannelView;
  /** The channel's last seq in the same snapshot as the membership. */
  lastSeq: number;
}

/**
 * What the gateway reads from Postgres: memberships with their channels' seq (one snapshot, so a
 * session starts each channel exactly where its membership was read), and committed events from
 * the outbox by channel and seq (gap fills, catch-up, resume).
 */
@Injectable()
export class MembershipService {
  constructor(
    private readonly db: Db,
    @Optional() private readonly urls?: AttachmentUrls,
  ) {}

  /** Outbox payloads hold attachment keys: sessions get download URLs (in place, once per event). */
  private async signed<T extends Iterable<GatewayEvent>>(events: T): Promise<T> {
    const urls = this.urls;
    if (urls)
      await Promise.all(
        [...events].map(async (e) => {
          if (AttachmentUrls.mayHold(e.data)) e.data = await urls.withUrls(e.data);
        }),
      );
    return events;
  }

  /** The user's channels and each one's last seq, read together. */
  async snapshot(userId: string): Promise<MemberChannel[]> {
    const rows = await this.db.query<{
      id: string;
      name: string;
      kind: ChannelKind;
      topic: string;
      owner_id: string | null;
      archived: boolean;
      created_at: Date | string;
      last_seq: string;
    }>(
      `SELECT c.id::text AS id, c.name, c.kind, c.topic, c.owner_id::text AS owner_id,
              c.archived_at IS NOT NULL AS archived, c.created_at, c.last_seq::text AS last_seq
         FROM channel_members m JOIN channels c ON c.id = m.channel_id
        WHERE m.user_id = $1 ORDER BY c.id`,
      [userId],
      'gateway_snapshot',
    );
    return rows.map((r) => ({
      view: {
        id: r.id,
        name: r.name,
        kind: r.kind,
        topic: r.topic,
        ownerId: r.owner_id,
        archived: r.archived,
        createdAt: new Date(r.created_at).toISOString(),
      },
      lastSeq: Number(r.last_seq),
    }));
  }

  /** Memberships of these users, with each channel's last seq. */
  async memberships(userIds: string[]): Promise<{ userId: string; channelId: string; lastSeq: number }[]> {
    if (userIds.length === 0) return [];
    const rows = await this.db.query<{ user_id: string; channel_id: string; last_seq: string }>(
      `SELECT m.user_id::text AS user_id, m.channel_id::text AS channel_id, c.last_seq::text AS last_seq
         FROM channel_members m JOIN channels c ON c.id = m.channel_id
        WHERE m.user_id = ANY($1::bigint[])`,
      [bigintArray(userIds)],
      'gateway_memberships',
    );
    return rows.map((r) => ({ userId: r.user_id, channelId: r.channel_id, lastSeq: Number(r.last_seq) }));
  }

  /** Each channel's last committed seq. */
  async lastSeqs(channelIds: string[]): Promise<Map<string, number>> {
    if (channelIds.length === 0) return new Map();
    const rows = await this.db.query<{ id: string; last_seq: string }>(
      'SELECT id::text AS id, last_seq::text AS last_seq FROM channels WHERE id = ANY($1::bigint[])',
      [bigintArray(channelIds)],
      'gateway_last_seqs',
    );
    return new Map(rows.map((r) => [r.id, Number(r.last_seq)]));
  }

  /**
   * For each (channel, after): its committed events with seq > after, in seq order, at most
   * EVENT_PAGE per channel.
   */
  async eventsAfter(from: [channelId: string, after: number][]): Promise<GatewayEvent[]> {
    if (from.length === 0) return [];
    const rows = await this.db.query<OutboxRow>(
      `SELECT ${EVENT_COLUMNS}
         FROM unnest($1::bigint[], $2::bigint[]) AS r(channel_id, after)
         CROSS JOIN LATERAL (SELECT * FROM outbox o WHERE o.channel_id = r.channel_id AND o.seq > r.after
                              ORDER BY o.seq LIMIT ${EVENT_PAGE}) o
        ORDER BY o.channel_id, o.seq`,
      [bigintArray(from.map((f) => f[0])), bigintArray(from.map((f) => String(f[1])))],
      'gateway_events_after',
    );
    return this.signed(rows.map(toEvent));
  }

  /** A channel's events with `after < seq <= upTo`, in seq order (all of them, paged). */
  async range(channelId: string, after: number, upTo: number): Promise<GatewayEvent[]> {
    const out: GatewayEvent[] = [];
    let from = after;
    while (from < upTo) {
      const rows = await this.db.query<OutboxRow>(
        `SELECT ${EVENT_COLUMNS} FROM outbox o
          WHERE o.channel_id = $1 AND o.seq > $2 AND o.seq <= $3 ORDER BY o.seq LIMIT ${EVENT_PAGE}`,
        [channelId, from, upTo],
        'gateway_range',
      );
      for (const r of rows) out.push(toEvent(r));
      if (rows.length < EVENT_PAGE) break;
      from = Number(rows.at(-1)!.seq);
    }
    return this.signed(out);
  }

  /** The events of these (channel, first seq, count) runs, keyed `<channel>:<seq>`. */
  async runs(runs: [channelId: string, seq: number, count: number][]): Promise<Map<string, GatewayEvent>> {
    const out = new Map<string, GatewayEvent>();
    for (let i = 0; i < runs.length; i += 500) {
      const part = runs.slice(i, i + 500);
      const rows = await this.db.query<OutboxRow>(
        `SELECT ${EVENT_COLUMNS}
           FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS r(channel_id, first, last)
           JOIN outbox o ON o.channel_id = r.channel_id AND o.seq BETWEEN r.first AND r.last`,
        [
          bigintArray(part.map((r) => r[0])),
          bigintArray(part.map((r) => String(r[1]))),
          bigintArray(part.map((r) => String(r[1] + r[2] - 1))),
        ],
        'gateway_runs',
      );
      for (const r of rows) out.set(`${r.channel_id}:${r.seq}`, toEvent(r));
    }
    await this.signed(out.values());
    return out;
  }

  /**
   * The seq of the event that made each user a member of each channel (their latest join, or the
   * channel's creation with them in it), looking at events since `sinceMs` only.
   */
  async joinSeqs(
    pairs: [userId: string, channelId: string][],
    sinceMs: number,
  ): Promise<Map<string, number>> {
    if (pairs.length === 0) return new Map();
    const rows = await this.db.query<{ user_id: string; channel_id: string; seq: string }>(
      `SELECT r.user_id::text AS user_id, r.channel_id::text AS channel_id, j.seq::text AS seq
         FROM unnest($1::bigint[], $2::bigint[]) AS r(user_id, channel_id)
         CROSS JOIN LATERAL (SELECT max(o.seq) AS seq FROM outbox o
                              WHERE o.channel_id = r.channel_id AND o.id >= $3::bigint
                                AND o.type IN ('member.joined', 'channel.created')
                                AND r.user_id = ANY(o.notify_user_ids)) j
        WHERE j.seq IS NOT NULL`,
      [bigintArray(pairs.map((p) => p[0])), bigintArray(pairs.map((p) => p[1])), snowflakeAt(sinceMs)],
      'gateway_join_seqs',
    );
    return new Map(rows.map((r) => [`${r.user_id}:${r.channel_id}`, Number(r.seq)]));
  }

  /** Which of these token hashes (hex) still exist. */
  async liveTokens(hashes: string[]): Promise<Set<string>> {
    if (hashes.length === 0) return new Set();
    const rows = await this.db.query<{ h: string }>(
      `SELECT encode(token_hash, 'hex') AS h FROM auth_tokens
        WHERE token_hash IN (SELECT decode(x, 'hex') FROM unnest($1::text[]) x)`,
      // Hex digits only: safe in an array literal.
      [`{${hashes.filter((h) => /^[0-9a-f]+$/.test(h)).join(',')}}`],
      'gateway_live_tokens',
    );
    return new Set(rows.map((r) => r.h));
  }
}
