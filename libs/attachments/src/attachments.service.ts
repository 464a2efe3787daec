import { randomBytes } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import {
  AppConfig,
  AppError,
  type AttachmentView,
  bigintArray,
  Db,
  describeError,
  isSnowflake,
  NotFoundError,
  OBJECT_STORAGE,
  type ObjectStoragePort,
  type PresignedUpload,
  queryRows,
  ValidationError,
} from '@cariosan/core';
import { ChannelsService } from '@cariosan/channels';
import type { AuthenticatedUser } from '@cariosan/users';
import { AttachmentUrls, type StoredAttachment } from './attachment-urls';
import { sanitizeFilename } from './filenames';

/** An upload URL expires this soon (the contract: within 15 minutes). */
export const UPLOAD_URL_TTL_S = 10 * 60;
/** Most attachments on one message. */
export const MAX_ATTACHMENTS_PER_MESSAGE = 10;

export interface CreateAttachmentInput {
  filename: string;
  contentType: string;
  size: number;
}

export interface UploadSlot {
  id: string;
  filename: string;
  contentType: string;
  size: number;
  upload: PresignedUpload;
}

interface Row {
  id: string;
  owner_id: string;
  key: string;
  filename: string;
  content_type: string;
  size: string;
  message_id: string | null;
  attached_at: Date | string | null;
  channel_id: string | null;
}

const stored = (r: Row): StoredAttachment => ({
  id: r.id,
  filename: r.filename,
  contentType: r.content_type,
  size: Number(r.size),
  key: r.key,
});

/**
 * Upload slots and their checks. The bytes never pass through here (S3: presigned URLs; local
 * disk: the adapter's own signed route): this hands out a slot bound to a server-made key, size
 * and type, and before a message takes attachments, checks each object in the store.
 */
@Injectable()
export class AttachmentsService {
  private readonly logger = new Logger('Attachments');

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly db: Db,
    private readonly channels: ChannelsService,
    private readonly urls: AttachmentUrls,
    @Inject(OBJECT_STORAGE) private readonly storage: ObjectStoragePort,
    private readonly config: AppConfig,
  ) {}

  async create(me: AuthenticatedUser, input: CreateAttachmentInput): Promise<UploadSlot> {
    if (input.size > this.config.maxUploadBytes) {
      throw new AppError('payload_too_large', `attachments are at most ${this.config.maxUploadBytes} bytes`, [
        { field: 'size', message: `size must be at most ${this.config.maxUploadBytes}` },
      ]);
    }
    const filename = sanitizeFilename(input.filename);
    // Unguessable and never the client's name: 128 random bits.
    const key = `attachments/${randomBytes(16).toString('hex')}`;
    const [row] = await this.db.query<{ id: string }>(
      `INSERT INTO attachments (owner_id, key, filename, content_type, size) VALUES ($1, $2, $3, $4, $5)
       RETURNING id::text AS id`,
      [me.id, key, filename, input.contentType, input.size],
    );
    const upload = await this.storage.presignUpload(key, input.contentType, input.size, UPLOAD_URL_TTL_S);
    return { id: row!.id, filename, contentType: input.contentType, size: input.size, upload };
  }

  /** An attachment for whoever may read its message's channel; an unattached upload for its owner only. */
  async get(me: AuthenticatedUser, id: string): Promise<AttachmentView> {
    if (!isSnowflake(id)) throw new NotFoundError('attachment');
    const [row] = await this.db.query<Row>(
      `SELECT a.id::text AS id, a.owner_id::text AS owner_id, a.key, a.filename, a.content_type, a.size::text AS size,
              a.message_id::text AS message_id, a.attached_at, m.channel_id::text AS channel_id
         FROM attachments a LEFT JOIN messages m ON m.id = a.message_id
        WHERE a.id = $1`,
      [id],
    );
    if (!row) throw new NotFoundError('attachment');
    if (row.channel_id) {
      const access = await this.channels.access(this.dataSource.manager, row.channel_id, me);
      this.channels.requireMember(access);
    } else if (row.attached_at !== null || row.owner_id !== me.id) {
      // Its message is gone, or it is someone else's upload not attached yet.
      throw new NotFoundError('attachment');
    }
    return this.urls.view(stored(row));
  }

  /**
   * Checks, before a post takes its channel's write path, that each id is an upload of the
   * caller not attached yet, and that the store holds it with the declared size and type
   * (HeadObject). A refusal is a 400 naming the attachment; an unreachable store, a 503.
   */
  async verifyForPost(
    me: AuthenticatedUser,
    ids: unknown[],
    post: { channelId: string; nonce: string | null },
  ): Promise<string[]> {
    const bad = (i: number, message: string) =>
      new ValidationError([{ field: `attachmentIds[${i}]`, message }]);
    if (ids.length > MAX_ATTACHMENTS_PER_MESSAGE) {
      throw new ValidationError([
        { field: 'attachmentIds', message: `at most ${MAX_ATTACHMENTS_PER_MESSAGE} attachments per message` },
      ]);
    }
    ids.forEach((id, i) => {
      if (typeof id !== 'string' || !isSnowflake(id)) throw bad(i, 'must be an attachment id');
      if (ids.indexOf(id) !== i) throw bad(i, `attachment ${id} is listed twice`);
    });
    const list = ids as string[];
    const rows = await this.db.query<Row & { replay: boolean }>(
      `SELECT a.id::text AS id, a.owner_id::text AS owner_id, a.key, a.filename, a.content_type, a.size::text AS size,
              a.message_id::text AS message_id, a.attached_at, NULL AS channel_id,
              coalesce(m.author_id = $2 AND m.channel_id = $3 AND m.nonce = $4, false) AS replay
         FROM attachments a LEFT JOIN messages m ON m.id = a.message_id
        WHERE a.id = ANY($1::bigint[])`,
      [bigintArray(list), me.id, post.channelId, post.nonce],
    );
    const byId = new Map(rows.map((r) => [r.id, r]));
    const toCheck: { i: number; row: Row }[] = [];
    list.forEach((id, i) => {
      const row = byId.get(id);
      if (!row || row.owner_id !== me.id) throw bad(i, `attachment ${id} is not an upload of yours`);
      // A retry of the post that attached it: post_messages answers the stored message.
      if (row.replay) return;
      if (row.attached_at !== null) throw bad(i, `attachment ${id} is already attached to a message`);
      toCheck.push({ i, row });
    });
    const heads = await Promise.all(toCheck.map(({ row }) => this.storage.head(row.key)));
    toCheck.forEach(({ i, row }, n) => {
      const head = heads[n];
      if (!head) throw bad(i, `attachment ${row.id} was not uploaded`);
      if (head.size !== Number(row.size))
        throw bad(i, `attachment ${row.id} holds ${head.size} bytes, ${row.size} were declared`);
      if (head.contentType !== row.content_type)
        throw bad(
          i,
          `attachment ${row.id} is stored as ${head.contentType ?? 'no type'}, ${row.content_type} was declared`,
        );
    });
    return list;
  }

  /** The object keys of a message's attachments and of its thread's replies' (read before deleting them). */
  async keysOfMessageTree(em: EntityManager, messageId: string): Promise<string[]> {
    const rows = await queryRows<{ key: string }>(
      em,
      `SELECT a.key FROM attachments a
        WHERE a.message_id = $1 OR a.message_id IN (SELECT id FROM messages WHERE parent_id = $1)`,
      [messageId],
    );
    return rows.map((r) => r.key);
  }

  /**
   * After a message was deleted: deletes its objects and their rows, in the background. What
   * fails here (the store is down) is left to the sweep, which finds the rows detached.
   */
  purgeDetached(keys: string[]): void {
    if (keys.length === 0) return;
    void (async () => {
      await this.storage.delete(keys);
      await this.db.query(
        'DELETE FROM attachments WHERE key = ANY($1::text[]) AND message_id IS NULL AND attached_at IS NOT NULL',
        [`{${keys.join(',')}}`],
      );
    })().catch((err: unknown) =>
      this.logger.warn(
        `deleting a message's objects failed, the sweep retries: ${describeError(err).message}`,
      ),
    );
  }
}
