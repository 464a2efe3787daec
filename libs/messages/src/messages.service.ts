import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import {
  bigintArray,
  Db,
  isSnowflake,
  MessageView,
  OutboxService,
  PageQuery,
  queryRows,
} from '@cariosan/core';
import {
  ChannelAccess,
  ChannelsError,
  ChannelsErrorCode,
  ChannelsService,
  MyChannelResponse,
} from '@cariosan/channels';
import type { AuthenticatedUser } from '@cariosan/users';
import { AttachmentsService, AttachmentUrls } from '@cariosan/attachments';
import { MessagesError, MessagesErrorCode } from './messages.errors';
import { PostBatcher } from './post-batcher';
import { isReactionEmoji } from './utils/emoji';
import { mentionCandidates, mentionedUsernames, resolveMentions } from './utils/mentions';

export interface PostMessageInput {
  content: string;
  nonce?: string;
  parentId?: string;
  attachmentIds?: unknown[];
}

/** A message view, or a list of them, as JSON text built by Postgres: passed through to the client. */
export interface JsonText {
  json: string;
}

const PAGE_SQL = 'SELECT status, body FROM message_page($1, $2, $3, $4, $5)';
const VIEWS_SQL = 'SELECT message_views($1, $2::bigint[]) AS body';

/** The @mentions of a text in the form `post_messages` resolves: readings comma-separated, mentions space-separated. */
function mentionGroups(content: string): string | null {
  const groups = mentionCandidates(content);
  return groups.length ? groups.map((g) => g.join(',')).join(' ') : null;
}

@Injectable()
export class MessagesService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly db: Db,
    private readonly outbox: OutboxService,
    private readonly channels: ChannelsService,
    private readonly posts: PostBatcher,
    private readonly attachments: AttachmentsService,
    private readonly urls: AttachmentUrls,
  ) {}

  /**
   * Posts a message: access check, nonce check, insert, mentions and event in one statement
   * (see PostBatcher). With a nonce already used by this author in this channel, answers the
   * stored message (`created: false`) when the request matches it, 422 otherwise.
   */
  async post(
    me: AuthenticatedUser,
    channelId: string,
    input: PostMessageInput,
  ): Promise<JsonText & { created: boolean }> {
    const attachmentIds = input.attachmentIds ?? [];
    // Without attachments there is nothing but the text to show.
    if (attachmentIds.length === 0 && input.content.trim() === '')
      throw new MessagesError(MessagesErrorCode.EmptyContent);
    if (!isSnowflake(channelId)) throw new ChannelsError(ChannelsErrorCode.ChannelNotFound);
    const parentId = input.parentId ?? null;
    if (parentId !== null && !isSnowflake(parentId)) throw new MessagesError(MessagesErrorCode.BadParent);
    // In the object store (HeadObject) before the channel's write path: no lock waits for S3.
    const attachments =
      attachmentIds.length > 0
        ? await this.attachments.verifyForPost(me, attachmentIds, { channelId, nonce: input.nonce ?? null })
        : [];
    const outcome = await this.posts.post(channelId, {
      authorId: me.id,
      content: input.content,
      nonce: input.nonce ?? null,
      parentId,
      mentions: mentionGroups(input.content),
      attachments: attachments.length > 0 ? attachments.join(',') : null,
    });
    switch (outcome.status) {
      case 'created':
        return { json: await this.urls.withUrls(outcome.body), created: true };
      case 'replay': {
        const [view] = await this.views(me.id, [outcome.messageId]);
        if (!view) throw new MessagesError(MessagesErrorCode.MessageNotFound);
        return { json: JSON.stringify(await this.urls.withUrlsIn(view)), created: false };
      }
      case 'bad_attachment':
        throw new MessagesError(MessagesErrorCode.AttachmentTaken);
      case 'mismatch':
        throw new MessagesError(MessagesErrorCode.IdempotencyMismatch);
      case 'forbidden':
        throw new ChannelsError(ChannelsErrorCode.NotAMember);
      case 'not_found':
        throw new ChannelsError(ChannelsErrorCode.ChannelNotFound);
      case 'archived':
        throw new ChannelsError(ChannelsErrorCode.Archived);
      case 'bad_parent':
        throw new MessagesError(MessagesErrorCode.BadParent);
    }
  }

  async get(me: AuthenticatedUser, channelId: string, messageId: string): Promise<MessageView> {
    const access = await this.channels.access(this.dataSource.manager, channelId, me);
    this.channels.requireMember(access);
    if (!isSnowflake(messageId)) throw new MessagesError(MessagesErrorCode.MessageNotFound);
    const [row] = await this.db.query<{ body: string }>(
      'SELECT message_views($1, ARRAY(SELECT id FROM messages WHERE id = $2 AND channel_id = $3)) AS body',
      [me.id, messageId, channelId],
    );
    const [view] = JSON.parse(row!.body) as MessageView[];
    if (!view) throw new MessagesError(MessagesErrorCode.MessageNotFound);
    return this.urls.withUrlsIn(view);
  }

  /**
   * A page of history in one statement (access check, messages, authors, reactions and the
   * caller's `me`), as JSON text. Newest first; with `after`, the oldest-first page after that id.
   * Thread replies are included.
   */
  async list(me: AuthenticatedUser, channelId: string, page: PageQuery): Promise<JsonText> {
    if (!isSnowflake(channelId)) throw new ChannelsError(ChannelsErrorCode.ChannelNotFound);
    const [row] = await this.db.query<{ status: 'ok' | 'forbidden' | 'not_found'; body: string | null }>(
      PAGE_SQL,
      [me.id, channelId, page.before ?? null, page.after ?? null, page.limit],
      'message_page',
    );
    if (row?.status === 'forbidden') throw new ChannelsError(ChannelsErrorCode.NotAMember);
    if (row?.status !== 'ok') throw new ChannelsError(ChannelsErrorCode.ChannelNotFound);
    return { json: await this.urls.withUrls(row.body ?? '[]') };
  }

  /** A thread's replies, oldest first. */
  async replies(
    me: AuthenticatedUser,
    channelId: string,
    messageId: string,
    page: PageQuery,
  ): Promise<JsonText> {
    const em = this.dataSource.manager;
    const access = await this.channels.access(em, channelId, me);
    this.channels.requireMember(access);
    await this.requireMessage(em, access, messageId);
    const [row] = await this.db.query<{ body: string }>(
      `SELECT message_views($1, ARRAY(SELECT id FROM messages WHERE parent_id = $2 AND ($3::bigint IS NULL OR id > $3::bigint)
                                       ORDER BY id LIMIT $4)) AS body`,
      [me.id, messageId, page.after ?? null, page.limit],
    );
    return { json: await this.urls.withUrls(row!.body) };
  }

  async edit(
    me: AuthenticatedUser,
    channelId: string,
    messageId: string,
    content: string,
  ): Promise<MessageView> {
    if (content.trim() === '') throw new MessagesError(MessagesErrorCode.EmptyContent);
    return this.channels
      .writeTransaction(me, channelId, async (em, access) => {
        this.channels.requireWritable(access);
        const row = await this.requireMessage(em, access, messageId);
        if (row.author_id !== me.id) throw new MessagesError(MessagesErrorCode.NotAuthor);
        const mentions = await this.mentions(em, channelId, content);
        await em.query(
          'UPDATE messages SET content = $2, mentions = $3::bigint[], edited_at = now() WHERE id = $1',
          [messageId, content, bigintArray(mentions)],
        );
        const [event] = await this.views(null, [messageId], em);
        await this.outbox.append(em, 'message.updated', channelId, event!);
        return (await this.views(me.id, [messageId], em))[0]!;
      })
      .then((view) => this.urls.withUrlsIn(view));
  }

  /**
   * Hard delete; a thread root takes its replies with it (one message.deleted each). The author
   * while a member, the channel owner or a server admin.
   */
  async delete(me: AuthenticatedUser, channelId: string, messageId: string): Promise<void> {
    const keys = await this.channels.writeTransaction(me, channelId, async (em, access) => {
      const moderator = this.channels.canModerate(access);
      // Only members act on a channel: an author who left (or was removed) no longer deletes there.
      if (!moderator) this.channels.requireMember(access);
      const row = await this.requireMessage(em, access, messageId);
      if (!moderator && row.author_id !== me.id) throw new MessagesError(MessagesErrorCode.CannotDelete);
      this.channels.requireNotArchived(access);
      // Read before the deletes detach them (ON DELETE SET NULL).
      const objects = await this.attachments.keysOfMessageTree(em, messageId);
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
      return objects;
    });
    // Once committed: the objects go too (what fails is left to the sweep).
    this.attachments.purgeDetached(keys);
  }

  async react(me: AuthenticatedUser, channelId: string, messageId: string, emoji: string): Promise<void> {
    await this.channels.writeTransaction(me, channelId, async (em, access) => {
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
    await this.channels.writeTransaction(me, channelId, async (em, access) => {
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

  private async requireMessage(
    em: EntityManager,
    access: ChannelAccess,
    messageId: string,
  ): Promise<{ id: string; author_id: string }> {
    if (!isSnowflake(messageId)) throw new MessagesError(MessagesErrorCode.MessageNotFound);
    const [row] = await em.query<{ id: string; author_id: string }[]>(
      'SELECT id, author_id FROM messages WHERE id = $1 AND channel_id = $2',
      [messageId, access.channel.id],
    );
    if (!row) throw new MessagesError(MessagesErrorCode.MessageNotFound);
    return row;
  }

  private async mentions(em: EntityManager, channelId: string, content: string): Promise<string[]> {
    const names = mentionedUsernames(content);
    return resolveMentions(content, await this.channels.membersByUsername(em, channelId, names));
  }

  /** Messages as the contract renders them (built by Postgres), in the order of `ids`; `me` in reactions is for `viewerId`. */
  private async views(viewerId: string | null, ids: string[], em?: EntityManager): Promise<MessageView[]> {
    if (ids.length === 0) return [];
    const params = [viewerId, bigintArray(ids)];
    const [row] = em
      ? await em.query<{ body: string }[]>(VIEWS_SQL, params)
      : await this.db.query<{ body: string }>(VIEWS_SQL, params);
    return JSON.parse(row!.body) as MessageView[];
  }
}
