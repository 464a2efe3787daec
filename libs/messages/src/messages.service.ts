import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { bigintArray, isSnowflake, MessageView, OutboxService, PageQuery, queryRows } from '@cariosan/core';
import { ChannelAccess, ChannelsService, MyChannelResponse } from '@cariosan/channels';
import type { AuthenticatedUser } from '@cariosan/users';
import { MessagesError, MessagesErrorCode } from './messages.errors';
import { isReactionEmoji } from './utils/emoji';
import { mentionedUsernames, resolveMentions } from './utils/mentions';

interface MessageRow {
  id: string;
  channel_id: string;
  author_id: string;
  content: string;
  nonce: string | null;
  parent_id: string | null;
  mentions: string[];
  created_at: Date | string;
  edited_at: Date | string | null;
  username: string;
  display_name: string;
}

const MESSAGE_SELECT = `
  SELECT m.id, m.channel_id, m.author_id, m.content, m.nonce, m.parent_id, m.mentions::text[] AS mentions,
         m.created_at, m.edited_at, u.username, u.display_name
    FROM messages m JOIN users u ON u.id = m.author_id`;

export interface PostMessageInput {
  content: string;
  nonce?: string;
  parentId?: string;
  attachmentIds?: unknown[];
}

@Injectable()
export class MessagesService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly outbox: OutboxService,
    private readonly channels: ChannelsService,
  ) {}

  /**
   * Posts a message. With a nonce already used by this author in this channel, answers the
   * stored message (`created: false`) when the request matches it, 422 otherwise.
   */
  async post(
    me: AuthenticatedUser,
    channelId: string,
    input: PostMessageInput,
  ): Promise<{ message: MessageView; created: boolean }> {
    if (input.attachmentIds && input.attachmentIds.length > 0)
      throw new MessagesError(MessagesErrorCode.AttachmentsUnsupported);
    // Without attachments there is nothing but the text to show.
    if (input.content.trim() === '') throw new MessagesError(MessagesErrorCode.EmptyContent);
    const nonce = input.nonce ?? null;
    const parentId = input.parentId ?? null;
    return this.outbox.transaction(async (em) => {
      const access = await this.channels.lockedAccess(em, channelId, me);
      this.channels.requireMember(access);
      if (nonce !== null) {
        const replay = await this.replayByNonce(em, me, channelId, nonce, input.content, parentId);
        if (replay) return { message: replay, created: false };
      }
      this.channels.requireWritable(access);
      if (parentId !== null) {
        const [parent] = await em.query<
          {
            parent_id: string | null;
          }[]
        >('SELECT parent_id FROM messages WHERE id = $1 AND channel_id = $2', [parentId, channelId]);
        if (!parent || parent.parent_id !== null) throw new MessagesError(MessagesErrorCode.BadParent);
      }
      const mentions = await this.mentions(em, channelId, input.content);
      const inserted = await em.query<{ id: string; created_at: Date | string }[]>(
        `INSERT INTO messages (channel_id, author_id, content, nonce, parent_id, mentions)
         VALUES ($1, $2, $3, $4, $5, $6::bigint[])
         ON CONFLICT (author_id, channel_id, nonce) WHERE nonce IS NOT NULL DO NOTHING
         RETURNING id, created_at`,
        [channelId, me.id, input.content, nonce, parentId, bigintArray(mentions)],
      );
      const row = inserted[0];
      if (!row) {
        // A concurrent request with this nonce committed first: answer its message.
        const replay = await this.replayByNonce(em, me, channelId, nonce!, input.content, parentId);
        return { message: replay!, created: false };
      }
      // Everything a new message shows is known here: no need to read it back (hot path).
      const message: MessageView = {
        id: row.id,
        channelId,
        author: { id: me.id, username: me.username, displayName: me.displayName },
        content: input.content,
        nonce,
        parentId,
        attachments: [],
        mentions,
        reactions: [],
        createdAt: new Date(row.created_at).toISOString(),
        editedAt: null,
      };
      await this.outbox.append(em, 'message.created', channelId, message);
      return { message, created: true };
    });
  }

  async get(me: AuthenticatedUser, channelId: string, messageId: string): Promise<MessageView> {
    const em = this.dataSource.manager;
    const access = await this.channels.access(em, channelId, me);
    this.channels.requireMember(access);
    await this.requireMessage(em, access, messageId);
    return (await this.views(em, [messageId], me.id))[0]!;
  }

  /** Newest first; with `after`, the oldest-first page of messages after that id. Thread replies are included. */
  async list(me: AuthenticatedUser, channelId: string, page: PageQuery): Promise<MessageView[]> {
    const em = this.dataSource.manager;
    const access = await this.channels.access(em, channelId, me);
    this.channels.requireMember(access);
    const rows =
      page.after !== undefined
        ? await em.query<{ id: string }[]>(
            'SELECT id FROM messages WHERE channel_id = $1 AND id > $2 ORDER BY id ASC LIMIT $3',
            [channelId, page.after, page.limit],
          )
        : await em.query<{ id: string }[]>(
            'SELECT id FROM messages WHERE channel_id = $1 AND ($2::bigint IS NULL OR id < $2::bigint) ORDER BY id DESC LIMIT $3',
            [channelId, page.before ?? null, page.limit],
          );
    return this.views(
      em,
      rows.map((r) => r.id),
      me.id,
    );
  }

  /** A thread's replies, oldest first. */
  async replies(
    me: AuthenticatedUser,
    channelId: string,
    messageId: string,
    page: PageQuery,
  ): Promise<MessageView[]> {
    const em = this.dataSource.manager;
    const access = await this.channels.access(em, channelId, me);
    this.channels.requireMember(access);
    await this.requireMessage(em, access, messageId);
    const rows = await em.query<{ id: string }[]>(
      'SELECT id FROM messages WHERE parent_id = $1 AND ($2::bigint IS NULL OR id > $2::bigint) ORDER BY id ASC LIMIT $3',
      [messageId, page.after ?? null, page.limit],
    );
    return this.views(
      em,
      rows.map((r) => r.id),
      me.id,
    );
  }

  async edit(
    me: AuthenticatedUser,
    channelId: string,
    messageId: string,
    content: string,
  ): Promise<MessageView> {
    if (content.trim() === '') throw new MessagesError(MessagesErrorCode.EmptyContent);
    return this.outbox.transaction(async (em) => {
      const access = await this.channels.lockedAccess(em, channelId, me);
      this.channels.requireWritable(access);
      const row = await this.requireMessage(em, access, messageId);
      if (row.author_id !== me.id) throw new MessagesError(MessagesErrorCode.NotAuthor);
      const mentions = await this.mentions(em, channelId, content);
      await em.query(
        'UPDATE messages SET content = $2, mentions = $3::bigint[], edited_at = now() WHERE id = $1',
        [messageId, content, bigintArray(mentions)],
      );
      const [event] = await this.views(em, [messageId], null);
      await this.outbox.append(em, 'message.updated', channelId, event!);
      return (await this.views(em, [messageId], me.id))[0]!;
    });
  }

  /** Hard delete; a thread root takes its replies with it (one message.deleted each). */
  async delete(me: AuthenticatedUser, channelId: string, messageId: string): Promise<void> {
    await this.outbox.transaction(async (em) => {
      const access = await this.channels.lockedAccess(em, channelId, me);
      const row = await this.requireMessage(em, access, messageId);
      if (row.author_id !== me.id && !this.channels.canModerate(access)) {
        // Outsiders of a public channel learn nothing more than its other routes tell them.
        this.channels.requireMember(access);
        throw new MessagesError(MessagesErrorCode.CannotDelete);
      }
      this.channels.requireNotArchived(access);
      const replies = await queryRows<{ id: string }>(
        em,
        'DELETE FROM messages WHERE parent_id = $1 RETURNING id',
        [messageId],
      );
      for (const r of replies.sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1))) {
        await this.outbox.append(em, 'message.deleted', channelId, { id: r.id, channelId });
      }
      await em.query('DELETE FROM messages WHERE id = $1', [messageId]);
      await this.outbox.append(em, 'message.deleted', channelId, { id: messageId, channelId });
    });
  }

  async react(me: AuthenticatedUser, channelId: string, messageId: string, emoji: string): Promise<void> {
    await this.outbox.transaction(async (em) => {
      const access = await this.channels.lockedAccess(em, channelId, me);
      this.channels.requireWritable(access);
      await this.requireMessage(em, access, messageId);
      if (!isReactionEmoji(emoji)) throw new MessagesError(MessagesErrorCode.BadEmoji);
      const inserted = await em.query<unknown[]>(
        'INSERT INTO message_reactions (message_id, emoji, user_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING user_id',
        [messageId, emoji, me.id],
      );
      if (inserted.length)
        await this.outbox.append(em, 'reaction.added', channelId, {
          channelId,
          messageId,
          userId: me.id,
          emoji,
        });
    });
  }

  async unreact(me: AuthenticatedUser, channelId: string, messageId: string, emoji: string): Promise<void> {
    await this.outbox.transaction(async (em) => {
      const access = await this.channels.lockedAccess(em, channelId, me);
      this.channels.requireWritable(access);
      await this.requireMessage(em, access, messageId);
      if (!isReactionEmoji(emoji)) throw new MessagesError(MessagesErrorCode.BadEmoji);
      const deleted = await queryRows(
        em,
        'DELETE FROM message_reactions WHERE message_id = $1 AND emoji = $2 AND user_id = $3 RETURNING user_id',
        [messageId, emoji, me.id],
      );
      if (deleted.length)
        await this.outbox.append(em, 'reaction.removed', channelId, {
          channelId,
          messageId,
          userId: me.id,
          emoji,
        });
    });
  }

  /** The caller's channels with `lastMessageId` and `unreadCount` (messages after the read marker, not the caller's own). */
  async myChannels(me: AuthenticatedUser): Promise<MyChannelResponse[]> {
    const mine = await this.channels.listMine(me);
    if (mine.length === 0) return [];
    const rows = await this.dataSource.query<
      { channel_id: string; last_message_id: string | null; unread_count: number }[]
    >(
      `SELECT c.channel_id::text AS channel_id,
              (SELECT max(x.id) FROM messages x WHERE x.channel_id = c.channel_id) AS last_message_id,
              (SELECT count(*)::int FROM messages x
                WHERE x.channel_id = c.channel_id AND x.id > c.marker AND x.author_id <> $3) AS unread_count
         FROM unnest($1::bigint[], $2::bigint[]) AS c(channel_id, marker)`,
      [
        bigintArray(mine.map((m) => m.channel.id)),
        bigintArray(mine.map((m) => m.lastReadMessageId ?? '0')),
        me.id,
      ],
    );
    const byId = new Map(rows.map((r) => [r.channel_id, r]));
    return mine.map(({ channel }) => ({
      ...channel,
      unreadCount: Number(byId.get(channel.id)?.unread_count ?? 0),
      lastMessageId: byId.get(channel.id)?.last_message_id ?? null,
    }));
  }

  /** Moves the caller's read marker (also backwards: "mark unread"). */
  async markRead(me: AuthenticatedUser, channelId: string, messageId: string): Promise<void> {
    const em = this.dataSource.manager;
    const access = await this.channels.access(em, channelId, me);
    this.channels.requireMember(access);
    const found = await em.query<unknown[]>('SELECT 1 FROM messages WHERE id = $1 AND channel_id = $2', [
      messageId,
      channelId,
    ]);
    if (found.length === 0) throw new MessagesError(MessagesErrorCode.BadReadMarker);
    await this.channels.setReadMarker(em, channelId, me.id, messageId);
  }

  // ---- helpers ----

  private async replayByNonce(
    em: EntityManager,
    me: AuthenticatedUser,
    channelId: string,
    nonce: string,
    content: string,
    parentId: string | null,
  ): Promise<MessageView | undefined> {
    const [row] = await em.query<{ id: string; content: string; parent_id: string | null }[]>(
      'SELECT id, content, parent_id FROM messages WHERE author_id = $1 AND channel_id = $2 AND nonce = $3',
      [me.id, channelId, nonce],
    );
    if (!row) return undefined;
    if (row.content !== content || row.parent_id !== parentId)
      throw new MessagesError(MessagesErrorCode.IdempotencyMismatch);
    return (await this.views(em, [row.id], me.id))[0];
  }

  private async requireMessage(
    em: EntityManager,
    access: ChannelAccess,
    messageId: string,
  ): Promise<MessageRow> {
    if (!isSnowflake(messageId)) throw new MessagesError(MessagesErrorCode.MessageNotFound);
    const [row] = await em.query<MessageRow[]>(`${MESSAGE_SELECT} WHERE m.id = $1 AND m.channel_id = $2`, [
      messageId,
      access.channel.id,
    ]);
    if (!row) throw new MessagesError(MessagesErrorCode.MessageNotFound);
    return row;
  }

  private async mentions(em: EntityManager, channelId: string, content: string): Promise<string[]> {
    const names = mentionedUsernames(content);
    return resolveMentions(content, await this.channels.membersByUsername(em, channelId, names));
  }

  /** Messages as the contract renders them, in the order of `ids`; `me` in reactions is for `viewerId`. */
  private async views(em: EntityManager, ids: string[], viewerId: string | null): Promise<MessageView[]> {
    if (ids.length === 0) return [];
    const list = bigintArray(ids);
    const rows = await em.query<MessageRow[]>(`${MESSAGE_SELECT} WHERE m.id = ANY($1::bigint[])`, [list]);
    const reactions = await em.query<{ message_id: string; emoji: string; count: number; me: boolean }[]>(
      `SELECT message_id::text AS message_id, emoji, count(*)::int AS count, coalesce(bool_or(user_id = $2::bigint), false) AS me
         FROM message_reactions WHERE message_id = ANY($1::bigint[])
        GROUP BY message_id, emoji ORDER BY min(created_at), emoji`,
      [list, viewerId ?? '0'],
    );
    const byId = new Map(rows.map((r) => [r.id, r]));
    return ids.flatMap((id) => {
      const r = byId.get(id);
      if (!r) return [];
      return [
        {
          id: r.id,
          channelId: r.channel_id,
          author: { id: r.author_id, username: r.username, displayName: r.display_name },
          content: r.content,
          nonce: r.nonce,
          parentId: r.parent_id,
          attachments: [],
          mentions: r.mentions ?? [],
          reactions: reactions
            .filter((x) => x.message_id === id)
            .map((x) => ({ emoji: x.emoji, count: Number(x.count), me: viewerId !== null && x.me === true })),
          createdAt: new Date(r.created_at).toISOString(),
          editedAt: r.edited_at === null ? null : new Date(r.edited_at).toISOString(),
        },
      ];
    });
  }
}
