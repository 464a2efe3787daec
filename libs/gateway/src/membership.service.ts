import { Injectable, Optional } from '@nestjs/common';
import { AttachmentUrls } from '@cariosan/attachments';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { type ChannelView, type DomainEventType, GATEWAY_DISPATCH, snowflakeAt } from '@cariosan/core';
import { ChannelsService } from '@cariosan/channels';
import type { AuthenticatedUser } from '@cariosan/users';

export interface MissedEvent {
  eventId: string;
  type: string;
  dataJson: string;
}

/** Most events a takeover fills in from the outbox; more than this and the session is not resumable. */
const GAP_FILL_LIMIT = 1000;

/** What the gateway reads from Postgres: a user's channels, and committed events it may have missed. */
@Injectable()
export class MembershipService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly channels: ChannelsService,
    @Optional() private readonly urls?: AttachmentUrls,
  ) {}

  /** Outbox payloads hold attachment keys: clients get download URLs. */
  private async withUrls(events: MissedEvent[]): Promise<MissedEvent[]> {
    const urls = this.urls;
    if (!urls) return events;
    return Promise.all(events.map(async (e) => ({ ...e, dataJson: await urls.withUrls(e.dataJson) })));
  }

  async channelsOf(user: AuthenticatedUser): Promise<ChannelView[]> {
    return (await this.channels.listMine(user)).map((c) => c.channel);
  }

  async channelIdsOf(userId: string): Promise<string[]> {
    const rows = await this.dataSource.query<{ channel_id: string }[]>(
      'SELECT channel_id FROM channel_members WHERE user_id = $1',
      [userId],
    );
    return rows.map((r) => r.channel_id);
  }

  /**
   * Committed events of one channel after its event number `afterSeq`, in seq order: what a
   * session that just joined may have missed while its subscription to the channel was being set up.
   */
  async channelEventsAfter(channelId: string, afterSeq: number): Promise<MissedEvent[]> {
    const rows = await this.dataSource.query<OutboxRow[]>(
      `SELECT id, type, payload::text AS payload FROM outbox WHERE channel_id = $1 AND seq > $2 ORDER BY seq LIMIT ${GAP_FILL_LIMIT}`,
      [channelId, afterSeq],
    );
    return this.withUrls(toMissed(rows));
  }

  /**
   * Committed events since `sinceMs` that a session of this user should have seen: events of
   * channels they were a member of at the time, and events addressed to them. Used when a
   * session is taken over from a replica that may have died before storing them; the caller
   * drops the ones the session already had by event id. Undefined when there are too many.
   */
  async eventsSince(userId: string, sinceMs: number): Promise<MissedEvent[] | undefined> {
    const rows = await this.dataSource.query<OutboxRow[]>(
      `SELECT o.id, o.type, o.payload::text AS payload
         FROM outbox o
        WHERE o.id >= $2
          AND ($1::bigint = ANY(o.notify_user_ids)
               OR EXISTS (SELECT 1 FROM channel_members m
                           WHERE m.channel_id = o.channel_id AND m.user_id = $1 AND m.joined_at <= o.created_at))
        ORDER BY o.id
        LIMIT ${GAP_FILL_LIMIT + 1}`,
      [userId, snowflakeAt(sinceMs)],
    );
    if (rows.length > GAP_FILL_LIMIT) return undefined;
    return this.withUrls(toMissed(rows));
  }
}

interface OutboxRow {
  id: string;
  type: DomainEventType;
  /** The stored JSON text, passed through. */
  payload: string;
}

function toMissed(rows: OutboxRow[]): MissedEvent[] {
  return rows
    .filter((r) => GATEWAY_DISPATCH[r.type] !== undefined)
    .map((r) => ({ eventId: r.id, type: GATEWAY_DISPATCH[r.type], dataJson: r.payload }));
}
