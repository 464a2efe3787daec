import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  linkSync,
  mkdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { access, constants, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  type AppConfig,
  type DownloadOptions,
  type ObjectStoragePort,
  type PresignedUpload,
  type StoredObject,
  UnavailableError,
} from '@cariosan/core';
import { contentDisposition } from '../filenames';

/** Where the local adapter serves uploads and downloads (outside /api/v1: the signature is the credential). */
export const LOCAL_OBJECT_PATH = '/uploads/';
const KEY_PATTERN = /^attachments\/[0-9a-f]{32}$/;

interface Meta {
  contentType: string;
  size: number;
}

/** Why a signed local request was refused; the controller turns it into the contract's shape. */
export class LocalObjectError extends Error {
  constructor(
    readonly status: 400 | 403 | 404 | 409 | 413,
    message: string,
  ) {
    super(message);
  }
}

function serverBaseUrl(config: AppConfig): string {
  if (config.publicUrl) return config.publicUrl;
  const host = ['0.0.0.0', '::', ''].includes(config.host) ? 'localhost' : config.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.port}`;
}

/**
 * The HMAC key, made once per data dir. Written whole under another name and linked into place
 * (link never overwrites), so processes starting together all end up reading the same full key.
 */
function signingKey(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const tmp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}`;
  writeFileSync(tmp, randomBytes(32), { mode: 0o600 });
  try {
    linkSync(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
  return readFileSync(file);
}

/**
 * Attachments on local disk, for the embedded default (no bucket configured): the same client
 * flow as S3. The server hands out its own signed, expiring URLs (HMAC-SHA256 with a key kept
 * in the data dir, so URLs survive a restart), takes the PUT body streamed to a temporary file
 * with the signed size enforced, and serves downloads with the signed Content-Disposition.
 * Objects live in CARIOS_DATA_DIR/attachments, one file and one `.json` of metadata each.
 */
export class LocalStorage implements ObjectStoragePort {
  readonly kind = 'local' as const;
  private readonly root: string;
  private readonly key: Buffer;
  private readonly base: string;

  constructor(config: AppConfig) {
    this.root = join(config.dataDir, 'attachments');
    mkdirSync(this.root, { recursive: true, mode: 0o700 });
    this.key = signingKey(join(this.root, '.signing-key'));
    this.base = serverBaseUrl(config);
  }

  presignUpload(
    key: string,
    contentType: string,
    size: number,
    expiresInSeconds: number,
  ): Promise<PresignedUpload> {
    const expires = Math.floor(Date.now() / 1000) + expiresInSeconds;
    const params = new URLSearchParams({ expires: String(expires), size: String(size), type: contentType });
    params.set('signature', this.sign(['PUT', key, String(size), contentType, String(expires)]));
    return Promise.resolve({
      url: `${this.base}${LOCAL_OBJECT_PATH}${key}?${params.toString()}`,
      method: 'PUT',
      headers: { 'Content-Type': contentType },
      expiresAt: new Date(expires * 1000),
    });
  }

  async head(key: string): Promise<StoredObject | undefined> {
    try {
      const meta = JSON.parse(await readFile(`${this.file(key)}.json`, 'utf8')) as Meta;
      const st = await stat(this.file(key));
      return { size: st.size, contentType: meta.contentType };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      if (err instanceof LocalObjectError) throw err;
      const e = new UnavailableError('attachment storage is unavailable, try again shortly');
      (e as { cause?: unknown }).cause = err;
      throw e;
    }
  }

  downloadUrl(key: string, opts: DownloadOptions): Promise<string> {
    const expires = Math.floor(Date.now() / 1000) + opts.expiresInSeconds;
    const disposition = contentDisposition(opts.filename, opts.asAttachment);
    const params = new URLSearchParams({ expires: String(expires), disposition, type: opts.contentType });
    params.set('signature', this.sign(['GET', key, String(expires), disposition, opts.contentType]));
    return Promise.resolve(`${this.base}${LOCAL_OBJECT_PATH}${key}?${params.toString()}`);
  }

  async delete(keys: string[]): Promise<void> {
    for (const key of keys) {
      if (!KEY_PATTERN.test(key)) continue;
      await rm(this.file(key), { force: true });
      await rm(`${this.file(key)}.json`, { force: true });
    }
  }

  async ping(): Promise<void> {
    await access(this.root, constants.W_OK);
  }

  /**
   * A signed PUT: the body is streamed to a temporary file, refused past the signed size, and
   * put in place only when complete with exactly that size. An object is written once.
   */
  async receive(
    key: string,
    query: Record<string, unknown>,
    headers: { contentType?: string; contentLength?: string },
    body: Readable,
  ): Promise<void> {
    const { expires, size, type, signature } = query;
    if (typeof size !== 'string' || typeof type !== 'string' || typeof expires !== 'string')
      throw new LocalObjectError(403, 'the upload URL is not signed');
    this.verify(['PUT', key, size, type, expires], expires, signature);
    if (headers.contentType !== type)
      throw new LocalObjectError(403, 'Content-Type differs from the signed content type');
    if (headers.contentLength === undefined) throw new LocalObjectError(400, 'Content-Length is required');
    if (headers.contentLength !== size)
      throw new LocalObjectError(403, 'Content-Length differs from the signed size');
    const target = this.file(key);
    if (await this.head(key)) throw new LocalObjectError(409, 'this upload was already made');
    const limit = Number(size);
    const part = `${target}.part-${randomBytes(6).toString('hex')}`;
    let received = 0;
    try {
      await pipeline(
        body,
        async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            received += chunk.length;
            if (received > limit) throw new LocalObjectError(413, 'the body is larger than the signed size');
            yield chunk;
          }
        },
        createWriteStream(part, { mode: 0o600 }),
      );
      if (received !== limit) throw new LocalObjectError(400, 'the body is shorter than the signed size');
      await writeFile(`${target}.json`, JSON.stringify({ contentType: type, size: limit } satisfies Meta));
      await rename(part, target);
    } catch (err) {
      await rm(part, { force: true });
      throw err;
    }
  }

  /** A signed GET: the file, with the type and disposition that were signed. */
  async open(
    key: string,
    query: Record<string, unknown>,
  ): Promise<{ stream: Readable; size: number; contentType: string; disposition: string }> {
    const { expires, disposition, type, signature } = query;
    if (typeof disposition !== 'string' || typeof type !== 'string' || typeof expires !== 'string')
      throw new LocalObjectError(403, 'the download URL is not signed');
    this.verify(['GET', key, expires, disposition, type], expires, signature);
    const found = await this.head(key);
    if (!found) throw new LocalObjectError(404, 'no such object');
    return { stream: createReadStream(this.file(key)), size: found.size, contentType: type, disposition };
  }

  private file(key: string): string {
    if (!KEY_PATTERN.test(key)) throw new LocalObjectError(404, 'no such object');
    return join(this.root, key.slice('attachments/'.length));
  }

  private sign(parts: string[]): string {
    return createHmac('sha256', this.key).update(parts.join('\n')).digest('hex');
  }

  private verify(parts: string[], expires: string, signature: unknown): void {
    const expected = Buffer.from(this.sign(parts), 'hex');
    const given = typeof signature === 'string' && /^[0-9a-f]{64}$/.test(signature) ? signature : '';
    if (!given || !timingSafeEqual(expected, Buffer.from(given, 'hex')))
      throw new LocalObjectError(403, 'the signature does not match');
    if (!/^\d+$/.test(expires) || Number(expires) * 1000 < Date.now())
      throw new LocalObjectError(403, 'the URL has expired');
  }
}
