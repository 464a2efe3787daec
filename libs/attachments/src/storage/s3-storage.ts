import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import {
  type DownloadOptions,
  type ObjectStoragePort,
  type PresignedUpload,
  type S3Config,
  type StoredObject,
  UnavailableError,
} from '@cariosan/core';
import { contentDisposition } from '../filenames';

/** A request to the store that takes longer gives up (the API then answers 503, never hangs). */
const REQUEST_TIMEOUT_MS = 2500;
const CONNECT_TIMEOUT_MS = 1500;
/** Deletes issued at once by a sweep or a message delete. */
const DELETE_CONCURRENCY = 8;

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } } | null;
  return e?.name === 'NotFound' || e?.name === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404;
}

/** Any failure to get an answer from the store: the request may be retried (503). */
function unavailable(err: unknown): UnavailableError {
  const e = new UnavailableError('object storage is unavailable, try again shortly');
  (e as { cause?: unknown }).cause = err;
  return e;
}

/**
 * S3 or an S3-compatible store (MinIO). The server talks to `endpoint`; the URLs it hands to
 * browsers are signed for `publicEndpoint` (what browsers reach), which may differ. A custom
 * endpoint uses path-style addressing (`http://minio:9000/bucket/key`); no endpoint is AWS for
 * the region (virtual-hosted style). Signing a URL needs no request to the store.
 */
export class S3Storage implements ObjectStoragePort {
  readonly kind = 's3' as const;
  private readonly client: S3Client;
  private readonly signer: S3Client;

  constructor(private readonly config: S3Config) {
    const base = (endpoint: string | undefined): S3ClientConfig => ({
      region: config.region,
      ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
      ...(config.accessKey && config.secretKey
        ? { credentials: { accessKeyId: config.accessKey, secretAccessKey: config.secretKey } }
        : {}),
      // A presigned PUT must not carry a checksum of an empty body; a browser sends no checksum.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    this.client = new S3Client({
      ...base(config.endpoint),
      maxAttempts: 2,
      requestHandler: {
        connectionTimeout: CONNECT_TIMEOUT_MS,
        requestTimeout: REQUEST_TIMEOUT_MS,
        // Without it a stalled request only logs a warning and waits on.
        throwOnRequestTimeout: true,
      },
    });
    this.signer = new S3Client(base(config.publicEndpoint));
  }

  async presignUpload(
    key: string,
    contentType: string,
    size: number,
    expiresInSeconds: number,
  ): Promise<PresignedUpload> {
    const command = new PutObjectCommand({
      Bucket: this.config.bucket,
      Key: key,
      ContentType: contentType,
      ContentLength: size,
    });
    const url = await getSignedUrl(this.signer, command, {
      expiresIn: expiresInSeconds,
      // Signed, so the store refuses other bytes: another size or another type.
      signableHeaders: new Set(['content-type', 'content-length']),
    });
    return {
      url,
      method: 'PUT',
      headers: { 'Content-Type': contentType },
      expiresAt: new Date(Date.now() + expiresInSeconds * 1000),
    };
  }

  async head(key: string): Promise<StoredObject | undefined> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.config.bucket, Key: key }));
      return { size: Number(out.ContentLength ?? -1), contentType: out.ContentType };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw unavailable(err);
    }
  }

  downloadUrl(key: string, opts: DownloadOptions): Promise<string> {
    return getSignedUrl(
      this.signer,
      new GetObjectCommand({
        Bucket: this.config.bucket,
        Key: key,
        ResponseContentType: opts.contentType,
        ResponseContentDisposition: contentDisposition(opts.filename, opts.asAttachment),
      }),
      { expiresIn: opts.expiresInSeconds },
    );
  }

  async delete(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += DELETE_CONCURRENCY) {
      await Promise.all(
        keys.slice(i, i + DELETE_CONCURRENCY).map(async (key) => {
          try {
            await this.client.send(new DeleteObjectCommand({ Bucket: this.config.bucket, Key: key }));
          } catch (err) {
            if (!isNotFound(err)) throw unavailable(err);
          }
        }),
      );
    }
  }

  async ping(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.config.bucket }));
    } catch (err) {
      throw new Error(`bucket ${this.config.bucket} did not answer: ${(err as Error).name ?? 'error'}`);
    }
  }
}
