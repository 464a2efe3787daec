import { Inject, Injectable } from '@nestjs/common';
import { AppConfig, type AttachmentView, OBJECT_STORAGE, type ObjectStoragePort } from '@cariosan/core';
import { servedAsAttachment } from './filenames';

/** An attachment as messages and events store it: the object key where clients get a URL. */
export interface StoredAttachment {
  id: string;
  filename: string;
  contentType: string;
  size: number;
  key: string;
}

/** Shortest life of a download URL; longer when the gateway's resume window asks for it. */
const MIN_URL_TTL_S = 15 * 60;
/** S3 refuses presigned URLs valid for longer than 7 days. */
const MAX_URL_TTL_S = 7 * 24 * 3600;
/** Cheap test for JSON that may hold stored attachments (an empty list never needs signing). */
const HAS_ATTACHMENTS = '"attachments":[{';

function isStored(a: unknown): a is StoredAttachment {
  return !!a && typeof a === 'object' && typeof (a as StoredAttachment).key === 'string';
}

function hasStored(data: unknown): boolean {
  if (Array.isArray(data)) return data.some(hasStored);
  const list = (data as { attachments?: unknown } | null)?.attachments;
  return Array.isArray(list) && list.some(isStored);
}

/**
 * The one hook that turns stored attachments (object keys) into what clients see: `url`, a
 * short-lived presigned GET made now, when the message leaves the server (REST answers, gateway
 * frames, webhook payloads). Works with a private bucket. A URL lives at least 15 minutes and
 * longer than the gateway's resume window, so a frame replayed on RESUME still downloads.
 */
@Injectable()
export class AttachmentUrls {
  readonly ttlSeconds: number;

  constructor(
    @Inject(OBJECT_STORAGE) private readonly storage: ObjectStoragePort,
    config: AppConfig,
  ) {
    const resumeS = Math.ceil(config.gatewayResumeWindowMs / 1000) + 5 * 60;
    this.ttlSeconds = Math.min(MAX_URL_TTL_S, Math.max(MIN_URL_TTL_S, resumeS));
  }

  /** Whether JSON text may hold stored attachments (cheap; false means it certainly holds none). */
  static mayHold(json: string): boolean {
    return json.includes(HAS_ATTACHMENTS);
  }

  /** A stored attachment as the contract shows it: `{id, filename, contentType, size, url}`. */
  async view(a: StoredAttachment): Promise<AttachmentView> {
    const url = await this.storage.downloadUrl(a.key, {
      filename: a.filename,
      contentType: a.contentType,
      asAttachment: servedAsAttachment(a.contentType),
      expiresInSeconds: this.ttlSeconds,
    });
    return { id: a.id, filename: a.filename, contentType: a.contentType, size: Number(a.size), url };
  }

  /**
   * JSON text of a message, a list of messages or an event's data, with every stored attachment
   * given its URL. Text without attachments comes back as it is, unparsed.
   */
  async withUrls(json: string): Promise<string> {
    if (!AttachmentUrls.mayHold(json)) return json;
    const data: unknown = JSON.parse(json);
    if (!hasStored(data)) return json;
    await this.withUrlsIn(data);
    return JSON.stringify(data);
  }

  /** The same on parsed data (a message, or an array of them): rewrites it in place and returns it. */
  async withUrlsIn<T>(data: T): Promise<T> {
    const messages: unknown[] = Array.isArray(data) ? data : [data];
    await Promise.all(
      messages.map(async (m) => {
        const holder = m as { attachments?: unknown[] } | null;
        if (!holder || !Array.isArray(holder.attachments)) return;
        holder.attachments = await Promise.all(
          holder.attachments.map((a) => (isStored(a) ? this.view(a) : a)),
        );
      }),
    );
    return data;
  }
}
