import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { Db, isSnowflake, OutboxService } from '@cariosan/core';
import { ChannelsError, ChannelsErrorCode, ChannelsService } from '@cariosan/channels';
import { JsonText, MessagesService } from '@cariosan/messages';
import type { AuthenticatedUser } from '@cariosan/users';
import type { CreatedIncomingWebhookResponse, IncomingWebhookResponse } from '../dto/incoming-webhook.dto';
import { WebhooksError, WebhooksErrorCode } from '../webhooks.errors';

const ISO = `'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`;
const COLUMNS = `h.id::text, h.channel_id::text AS "channelId", h.name, h.bot_user_id::text AS "botUserId",
  h.created_by::text AS "createdBy", to_char(h.created_at AT TIME ZONE 'UTC', ${ISO}) AS "createdAt"`;

const sha256 = (token: string) => createHash('sha256').update(token).digest();

/**
 * Incoming webhooks: each is a bot user, member of its channel, that `POST /hooks/:id/:token`
 * posts as, through the same path as any post (so the gateway and outgoing webhooks see it).
 */
@Injectable()
export class IncomingWebhooksService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly db: Db,
    private readonly channels: ChannelsService,
    private readonly messages: MessagesService,
    private readonly outbox: OutboxService,
  ) {}

  /** Members of a channel that is not archived (nor direct) create one; its bot joins the channel. */
  async create(
    me: AuthenticatedUser,
    channelId: string,
    name: string,
    origin: string,
  ): Promise<CreatedIncomingWebhookResponse> {
    const token = randomBytes(32).toString('base64url');
    const hook = await this.channels.writeTransaction(me, channelId, async (em, access) => {
      this.channels.requireWritable(access);
      if (access.channel.kind === 'dm') throw new ChannelsError(ChannelsErrorCode.DirectChannelFixed);
      const [bot] = await em.query<{ id: string; username: string }[]>(
        `INSERT INTO users (username, display_name, is_bot) VALUES ($1, $2, true) RETURNING id::text, username`,
        [`hook.${randomBytes(6).toString('hex')}`, name],
      );
      await em.query(`INSERT INTO channel_members (channel_id, user_id, role) VALUES ($1, $2, 'member')`, [
        channelId,
        bot!.id,
      ]);
      await this.outbox.append(
        em,
        'member.joined',
        channelId,
        {
          channelId,
          userId: bot!.id,
          user: { id: bot!.id, username: bot!.username, displayName: name },
          role: 'member',
        },
        [bot!.id],
      );
      const [row] = await em.query<IncomingWebhookResponse[]>(
        `INSERT INTO incoming_webhooks AS h (channel_id, bot_user_id, name, token_hash, created_by)
         VALUES ($1, $2, $3, $4, $5) RETURNING ${COLUMNS}`,
        [channelId, bot!.id, name, sha256(token), me.id],
      );
      return row!;
    });
    return { ...hook, token, url: `${origin}/hooks/${hook.id}/${token}` };
  }

  async list(me: AuthenticatedUser, channelId: string): Promise<IncomingWebhookResponse[]> {
    const access = await this.channels.access(this.dataSource.manager, channelId, me);
    this.channels.requireMember(access);
    return this.db.query<IncomingWebhookResponse>(
      `SELECT ${COLUMNS} FROM incoming_webhooks h WHERE h.channel_id = $1 ORDER BY h.id`,
      [channelId],
    );
  }

  /** Its creator, the channel owner or an admin; the bot leaves the channel (its messages stay). */
  async delete(me: AuthenticatedUser, channelId: string, hookId: string): Promise<void> {
    if (!isSnowflake(hookId)) throw new WebhooksError(WebhooksErrorCode.IncomingWebhookNotFound);
    await this.channels.writeTransaction(me, channelId, async (em, access) => {
      this.channels.requireMember(access);
      const [hook] = await em.query<{ bot_user_id: string; created_by: string | null }[]>(
        `SELECT bot_user_id::text, created_by::text FROM incoming_webhooks WHERE id = $1 AND channel_id = $2`,
        [hookId, channelId],
      );
      if (!hook) throw new WebhooksError(WebhooksErrorCode.IncomingWebhookNotFound);
      if (hook.created_by !== me.id && !this.channels.canModerate(access))
        throw new WebhooksError(WebhooksErrorCode.CannotDeleteIncoming);
      await em.query(`DELETE FROM incoming_webhooks WHERE id = $1`, [hookId]);
      const left = await em.query<unknown[]>(
        `DELETE FROM channel_members WHERE channel_id = $1 AND user_id = $2 RETURNING user_id`,
        [channelId, hook.bot_user_id],
      );
      if (left.length > 0)
        await this.outbox.append(
          em,
          'member.left',
          channelId,
          { channelId, userId: hook.bot_user_id, role: 'member' },
          [hook.bot_user_id],
        );
    });
  }

  /**
   * The hook's bot, when `token` is its token; undefined otherwise (a wrong token and an unknown
   * hook look the same).
   */
  async authenticate(
    hookId: string,
    token: string,
  ): Promise<(AuthenticatedUser & { channelId: string }) | undefined> {
    if (!isSnowflake(hookId) || token.length > 128) return undefined;
    const [row] = await this.db.query<{
      token_hash: Buffer;
      channel_id: string;
      id: string;
      username: string;
      display_name: string;
    }>(
      `SELECT h.token_hash, h.channel_id::text, u.id::text, u.username, u.display_name
         FROM incoming_webhooks h JOIN users u ON u.id = h.bot_user_id WHERE h.id = $1`,
      [hookId],
    );
    if (!row || !timingSafeEqual(Buffer.from(row.token_hash), sha256(token))) return undefined;
    return {
      id: row.id,
      username: row.username,
      displayName: row.display_name,
      isAdmin: false,
      tokenHash: '',
      channelId: row.channel_id,
    };
  }

  /** Posts as the hook's bot; `username` renames the bot first. */
  async post(
    bot: AuthenticatedUser & { channelId: string },
    content: string,
    username: string | undefined,
  ): Promise<JsonText> {
    if (username !== undefined && username !== bot.displayName) {
      await this.db.query(`UPDATE users SET display_name = $2 WHERE id = $1`, [bot.id, username]);
    }
    try {
      return await this.messages.post(bot, bot.channelId, { content });
    } catch (err) {
      // The bot was removed from its channel: the hook has nowhere to post.
      if (err instanceof ChannelsError && err.reason !== ChannelsErrorCode.Archived)
        throw new WebhooksError(WebhooksErrorCode.IncomingWebhookNotFound);
      throw err;
    }
  }
}
