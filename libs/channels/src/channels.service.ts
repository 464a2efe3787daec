import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import {
  bigintArray,
  BUS,
  BusPort,
  channelTopic,
  ChannelKind,
  ChannelView,
  codePoints,
  DomainEvent,
  isSnowflake,
  OutboxService,
  PageQuery,
  queryRows,
} from '@cariosan/core';
import type { AuthenticatedUser } from '@cariosan/users';
import { ChannelsError, ChannelsErrorCode } from './channels.errors';
import type { MemberResponse } from './dto/channel.dto';
import type { MemberRole } from './entities/channel-member.entity';

export interface ChannelRecord {
  id: string;
  name: string;
  kind: ChannelKind;
  topic: string;
  ownerId: string | null;
  archivedAt: Date | null;
  createdAt: Date;
}

export interface MembershipRecord {
  role: MemberRole;
  lastReadMessageId: string | null;
}

/** A channel as one caller sees it: the channel and the caller's membership, if any. */
export interface ChannelAccess {
  channel: ChannelRecord;
  member: MembershipRecord | null;
  me: AuthenticatedUser;
}

interface ChannelRow {
  id: string;
  name: string;
  kind: ChannelKind;
  topic: string;
  owner_id: string | null;
  archived_at: Date | string | null;
  created_at: Date | string;
}

const CHANNEL_COLUMNS = 'c.id, c.name, c.kind, c.topic, c.owner_id, c.archived_at, c.created_at';

function toRecord(row: ChannelRow): ChannelRecord {
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    topic: row.topic,
    ownerId: row.owner_id,
    archivedAt: row.archived_at === null ? null : new Date(row.archived_at),
    createdAt: new Date(row.created_at),
  };
}

export function toChannelView(c: ChannelRecord): ChannelView {
  return {
    id: c.id,
    name: c.name,
    kind: c.kind,
    topic: c.topic,
    ownerId: c.ownerId,
    archived: c.archivedAt !== null,
    createdAt: c.createdAt.toISOString(),
  };
}

/** The key of a direct channel: its members' ids in numeric order, joined. */
export function dmKey(userIds: readonly string[]): string {
  return [...new Set(userIds)]
    .sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0))
    .join(',');
}

function truncateCodePoints(value: string, max: number): string {
  return codePoints(value) <= max ? value : Array.from(value).slice(0, max).join('');
}

@Injectable()
export class ChannelsService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly outbox: OutboxService,
    @Inject(BUS) private readonly bus: BusPort,
  ) {}

  // ---- access rules, shared with the messages domain ----

  /**
   * Loads a channel as `me` sees it. A channel that does not exist, a malformed id and a
   * private or direct channel `me` is not a member of all answer the same 404.
   */
  async access(em: EntityManager, channelId: string, me: AuthenticatedUser): Promise<ChannelAccess> {
    if (!isSnowflake(channelId)) throw new ChannelsError(ChannelsErrorCode.ChannelNotFound);
    const rows = await em.query<
      (ChannelRow & { role: MemberRole | null; last_read_message_id: string | null })[]
    >(
      `SELECT ${CHANNEL_COLUMNS}, m.role, m.last_read_message_id
         FROM channels c LEFT JOIN channel_members m ON m.channel_id = c.id AND m.user_id = $2
        WHERE c.id = $1`,
      [channelId, me.id],
    );
    const row = rows[0];
    if (!row) throw new ChannelsError(ChannelsErrorCode.ChannelNotFound);
    const member = row.role ? { role: row.role, lastReadMessageId: row.last_read_message_id } : null;
    if (!member && row.kind !== 'public') throw new ChannelsError(ChannelsErrorCode.ChannelNotFound);
    return { channel: toRecord(row), member, me };
  }

  /** Reading history, listing members, typing: members only (a public channel's outsiders get 403). */
  requireMember(access: ChannelAccess): void {
    if (!access.member) throw new ChannelsError(ChannelsErrorCode.NotAMember);
  }

  /** Posting and other changes to the content: members of a channel that is not archived. */
  requireWritable(access: ChannelAccess): void {
    this.requireMember(access);
    this.requireNotArchived(access);
  }

  /** An archived channel's history is read-only. */
  requireNotArchived(access: ChannelAccess): void {
    if (access.channel.archivedAt) throw new ChannelsError(ChannelsErrorCode.Archived);
  }

  /** The channel owner or a server admin (who may moderate any channel they can see). */
  canModerate(access: ChannelAccess): boolean {
    return access.me.isAdmin || (access.channel.ownerId !== null && access.channel.ownerId === access.me.id);
  }

  /** Users among `usernames` who are members of the channel. */
  async membersByUsername(
    em: EntityManager,
    channelId: string,
    usernames: string[],
  ): Promise<{ id: string; username: string }[]> {
    if (usernames.length === 0) return [];
    return await em.query<{ id: string; username: string }[]>(
      `SELECT u.id, u.username FROM channel_members m JOIN users u ON u.id = m.user_id
        WHERE m.channel_id = $1 AND u.username = ANY($2::text[])`,
      [channelId, `{${usernames.map((u) => `"${u}"`).join(',')}}`],
    );
  }

  /** The caller's channels with their read markers, oldest channel first. */
  async listMine(
    me: AuthenticatedUser,
  ): Promise<{ channel: ChannelView; lastReadMessageId: string | null }[]> {
    const rows = await this.dataSource.query<(ChannelRow & { last_read_message_id: string | null })[]>(
      `SELECT ${CHANNEL_COLUMNS}, m.last_read_message_id
         FROM channel_members m JOIN channels c ON c.id = m.channel_id
        WHERE m.user_id = $1 ORDER BY c.id`,
      [me.id],
    );
    return rows.map((r) => ({
      channel: toChannelView(toRecord(r)),
      lastReadMessageId: r.last_read_message_id,
    }));
  }

  async setReadMarker(
    em: EntityManager,
    channelId: string,
    userId: string,
    messageId: string,
  ): Promise<void> {
    await em.query(
      'UPDATE channel_members SET last_read_message_id = $3 WHERE channel_id = $1 AND user_id = $2',
      [channelId, userId, messageId],
    );
  }

  // ---- channels ----

  async create(
    me: AuthenticatedUser,
    name: string,
    kind: 'public' | 'private',
    topic = '',
  ): Promise<ChannelView> {
    return this.outbox.transaction(async (em) => {
      const [row] = await em.query<ChannelRow[]>(
        `INSERT INTO channels AS c (name, kind, topic, owner_id) VALUES ($1, $2, $3, $4) RETURNING ${CHANNEL_COLUMNS}`,
        [name, kind, topic, me.id],
      );
      const view = toChannelView(toRecord(row!));
      await em.query(`INSERT INTO channel_members (channel_id, user_id, role) VALUES ($1, $2, 'owner')`, [
        view.id,
        me.id,
      ]);
      await this.outbox.append(em, 'channel.created', view.id, view, [me.id]);
      return view;
    });
  }

  async get(me: AuthenticatedUser, channelId: string): Promise<ChannelView> {
    return toChannelView((await this.access(this.dataSource.manager, channelId, me)).channel);
  }

  async update(
    me: AuthenticatedUser,
    channelId: string,
    changes: { name?: string; topic?: string },
  ): Promise<ChannelView> {
    return this.writeTransaction(me, channelId, async (em, access) => {
      this.requireManageable(access);
      if (access.channel.archivedAt) throw new ChannelsError(ChannelsErrorCode.Archived);
      const next = {
        ...access.channel,
        name: changes.name ?? access.channel.name,
        topic: changes.topic ?? access.channel.topic,
      };
      if (next.name === access.channel.name && next.topic === access.channel.topic)
        return toChannelView(access.channel);
      await em.query('UPDATE channels SET name = $2, topic = $3 WHERE id = $1', [
        channelId,
        next.name,
        next.topic,
      ]);
      const view = toChannelView(next);
      await this.outbox.append(em, 'channel.updated', channelId, view);
      return view;
    });
  }

  /** Archives: history stays readable, nothing new can be written. Archiving twice is a no-op. */
  async archive(me: AuthenticatedUser, channelId: string): Promise<void> {
    await this.writeTransaction(me, channelId, async (em, access) => {
      this.requireManageable(access);
      if (access.channel.archivedAt) return;
      const [row] = await queryRows<{ archived_at: Date | string }>(
        em,
        'UPDATE channels SET archived_at = now() WHERE id = $1 RETURNING archived_at',
        [channelId],
      );
      const view = toChannelView({ ...access.channel, archivedAt: new Date(row!.archived_at) });
      await this.outbox.append(em, 'channel.archived', channelId, view);
    });
  }

  async browse(page: PageQuery): Promise<ChannelView[]> {
    const rows = await this.dataSource.query<ChannelRow[]>(
      `SELECT ${CHANNEL_COLUMNS} FROM channels c
        WHERE c.kind = 'public' AND c.archived_at IS NULL AND ($1::bigint IS NULL OR c.id < $1::bigint)
        ORDER BY c.id DESC LIMIT $2`,
      [page.before ?? null, page.limit],
    );
    return rows.map((r) => toChannelView(toRecord(r)));
  }

  // ---- membership ----

  /** `@me` joins a public channel; a member adds someone else. Adding a member twice is a no-op. */
  async addMember(me: AuthenticatedUser, channelId: string, userParam: string): Promise<void> {
    await this.writeTransaction(me, channelId, async (em, access) => {
      const userId = this.resolveUserParam(me, userParam);
      if (access.channel.kind === 'dm') throw new ChannelsError(ChannelsErrorCode.DirectChannelFixed);
      if (userId !== me.id) this.requireMember(access);
      else if (access.member) return;
      if (access.channel.archivedAt) throw new ChannelsError(ChannelsErrorCode.Archived);
      const users = await em.query<
        {
          id: string;
          username: string;
          display_name: string;
        }[]
      >('SELECT id, username, display_name FROM users WHERE id = $1', [userId]);
      const user = users[0];
      if (!user) throw new ChannelsError(ChannelsErrorCode.UserNotFound);
      const inserted = await em.query<unknown[]>(
        `INSERT INTO channel_members (channel_id, user_id, role) VALUES ($1, $2, 'member') ON CONFLICT DO NOTHING RETURNING user_id`,
        [channelId, userId],
      );
      if (inserted.length === 0) return;
      await this.outbox.append(
        em,
        'member.joined',
        channelId,
        {
          channelId,
          userId,
          user: { id: user.id, username: user.username, displayName: user.display_name },
          role: 'member',
        },
        [userId],
      );
    });
  }

  /** `@me` leaves (also an archived channel); the owner or an admin removes someone else. */
  async removeMember(me: AuthenticatedUser, channelId: string, userParam: string): Promise<void> {
    await this.writeTransaction(me, channelId, async (em, access) => {
      const userId = this.resolveUserParam(me, userParam);
      if (access.channel.kind === 'dm') throw new ChannelsError(ChannelsErrorCode.DirectChannelFixed);
      if (userId === me.id) {
        if (!access.member) return;
      } else {
        this.requireManageable(access);
        if (access.channel.archivedAt) throw new ChannelsError(ChannelsErrorCode.Archived);
      }
      const removed = await queryRows<{ role: MemberRole }>(
        em,
        'DELETE FROM channel_members WHERE channel_id = $1 AND user_id = $2 RETURNING role',
        [channelId, userId],
      );
      if (removed.length === 0) throw new ChannelsError(ChannelsErrorCode.MemberNotFound);
      // A channel whose owner is gone is managed by server admins.
      if (access.channel.ownerId === userId)
        await em.query('UPDATE channels SET owner_id = NULL WHERE id = $1', [channelId]);
      await this.outbox.append(em, 'member.left', channelId, { channelId, userId, role: removed[0]!.role }, [
        userId,
      ]);
    });
  }

  async listMembers(me: AuthenticatedUser, channelId: string, page: PageQuery): Promise<MemberResponse[]> {
    const access = await this.access(this.dataSource.manager, channelId, me);
    this.requireMember(access);
    const rows = await this.dataSource.query<
      {
        role: MemberRole;
        joined_at: Date | string;
        id: string;
        username: string;
        display_name: string;
        is_admin: boolean;
        is_bot: boolean;
        created_at: Date | string;
      }[]
    >(
      `SELECT m.role, m.joined_at, u.id, u.username, u.display_name, u.is_admin, u.is_bot, u.created_at
         FROM channel_members m JOIN users u ON u.id = m.user_id
        WHERE m.channel_id = $1 AND ($2::bigint IS NULL OR m.user_id > $2::bigint)
        ORDER BY m.user_id LIMIT $3`,
      [channelId, page.after ?? null, page.limit],
    );
    return rows.map((r) => ({
      user: {
        id: r.id,
        username: r.username,
        displayName: r.display_name,
        isAdmin: r.is_admin,
        isBot: r.is_bot,
        createdAt: new Date(r.created_at).toISOString(),
      },
      role: r.role,
      joinedAt: new Date(r.joined_at).toISOString(),
    }));
  }

  // ---- direct channels ----

  /** The direct channel of exactly `userIds` plus the caller; created at most once, even under concurrent calls. */
  async openDm(
    me: AuthenticatedUser,
    userIds: string[],
  ): Promise<{ channel: ChannelView; created: boolean }> {
    const ids = [...new Set([...userIds, me.id])];
    const bad = ids.filter((id) => !isSnowflake(id));
    const users = bad.length
      ? []
      : await this.dataSource.query<
          {
            id: string;
            username: string;
          }[]
        >('SELECT id, username FROM users WHERE id = ANY($1::bigint[])', [bigintArray(ids)]);
    if (users.length !== ids.length) {
      throw new ChannelsError(ChannelsErrorCode.UnknownUsers, [
        { field: 'userIds', message: 'userIds contains users that do not exist' },
      ]);
    }
    const key = dmKey(ids);
    const name = truncateCodePoints(
      users
        .map((u) => u.username)
        .sort()
        .join(', '),
      80,
    );
    return this.outbox.transaction(async (em) => {
      const inserted = await em.query<ChannelRow[]>(
        `INSERT INTO channels AS c (name, kind, topic, owner_id, dm_key) VALUES ($1, 'dm', '', NULL, $2)
         ON CONFLICT (dm_key) DO NOTHING RETURNING ${CHANNEL_COLUMNS}`,
        [name, key],
      );
      if (inserted[0]) {
        const view = toChannelView(toRecord(inserted[0]));
        await em.query(
          `INSERT INTO channel_members (channel_id, user_id, role) SELECT $1::bigint, unnest($2::bigint[]), 'member'`,
          [view.id, bigintArray(ids)],
        );
        await this.outbox.append(em, 'channel.created', view.id, view, ids);
        return { channel: view, created: true };
      }
      // Lost the race or asked again: the row committed by the winner is visible to this new statement.
      const [existing] = await em.query<ChannelRow[]>(
        `SELECT ${CHANNEL_COLUMNS} FROM channels c WHERE c.dm_key = $1`,
        [key],
      );
      return { channel: toChannelView(toRecord(existing!)), created: false };
    });
  }

  // ---- ephemeral ----

  /**
   * Typing is not stored: published straight to the channel topic, naming the channel's seq at
   * that moment (`after`), so gateways deliver it in its place among the channel's events.
   */
  async typing(me: AuthenticatedUser, channelId: string): Promise<void> {
    const access = await this.access(this.dataSource.manager, channelId, me);
    this.requireWritable(access);
    const [row] = await this.dataSource.query<{ id: string; after: string }[]>(
      'SELECT next_snowflake()::text AS id, (SELECT last_seq FROM channels WHERE id = $1)::text AS after',
      [channelId],
    );
    const data: DomainEvent<'typing.started'>['data'] = { channelId, userId: me.id };
    // Data last, as every bus event (see eventJson).
    const json = `{"id":"${row!.id}","type":"typing.started","channelId":"${channelId}","after":${Number(row!.after ?? 0)},"createdAt":"${new Date().toISOString()}","data":${JSON.stringify(data)}}`;
    await this.bus.publish(channelTopic(channelId), json);
  }

  // ---- helpers ----

  /**
   * Takes the channel's write lock (its row, until the transaction ends), then loads the channel
   * as `me` sees it, in a second statement: under READ COMMITTED that one sees every write
   * committed before the lock was granted, memberships included.
   */
  async lockedAccess(em: EntityManager, channelId: string, me: AuthenticatedUser): Promise<ChannelAccess> {
    if (!isSnowflake(channelId)) throw new ChannelsError(ChannelsErrorCode.ChannelNotFound);
    await em.query('SELECT 1 FROM channels WHERE id = $1 FOR NO KEY UPDATE', [channelId]);
    return this.access(em, channelId, me);
  }

  /**
   * A write transaction on an existing channel: queued behind this replica's other writes to it,
   * then holding its lock; `work` gets the channel as `me` sees it.
   */
  writeTransaction<T>(
    me: AuthenticatedUser,
    channelId: string,
    work: (em: EntityManager, access: ChannelAccess) => Promise<T>,
  ): Promise<T> {
    if (!isSnowflake(channelId)) throw new ChannelsError(ChannelsErrorCode.ChannelNotFound);
    return this.outbox.channelTransaction(channelId, async (em) =>
      work(em, await this.lockedAccess(em, channelId, me)),
    );
  }

  private requireManageable(access: ChannelAccess): void {
    if (access.channel.kind === 'dm') throw new ChannelsError(ChannelsErrorCode.DirectChannelFixed);
    if (!this.canModerate(access)) {
      throw new ChannelsError(access.member ? ChannelsErrorCode.NotOwner : ChannelsErrorCode.NotAMember);
    }
  }

  private resolveUserParam(me: AuthenticatedUser, param: string): string {
    if (param === '@me') return me.id;
    if (!isSnowflake(param)) throw new ChannelsError(ChannelsErrorCode.UserNotFound);
    return param;
  }
}
