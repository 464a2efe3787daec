/** Where a browser sends an attachment's bytes: exactly this method, URL and headers. */
export interface PresignedUpload {
  url: string;
  method: 'PUT';
  /** Headers the request must carry (Content-Type); Content-Length must be the declared size. */
  headers: Record<string, string>;
  expiresAt: Date;
}

export interface StoredObject {
  size: number;
  contentType: string | undefined;
}

export interface DownloadOptions {
  /** Shown to the user as the file's name (already sanitised). */
  filename: string;
  contentType: string;
  /** Content-Disposition: attachment (never rendered inline by the browser) instead of inline. */
  asAttachment: boolean;
  expiresInSeconds: number;
}

/**
 * Where attachment bytes live: S3/MinIO with presigned URLs, or local disk when embedded (the
 * server's own signed URLs). Failures to reach the store reject with UnavailableError (503).
 */
export interface ObjectStoragePort {
  readonly kind: 's3' | 'local';
  /** A URL the browser PUTs the bytes to; the signature binds the key, size and content type. */
  presignUpload(
    key: string,
    contentType: string,
    size: number,
    expiresInSeconds: number,
  ): Promise<PresignedUpload>;
  /** The stored object's size and type (HeadObject), undefined when there is none. */
  head(key: string): Promise<StoredObject | undefined>;
  /** A short-lived URL that downloads the object (works with a private bucket). */
  downloadUrl(key: string, opts: DownloadOptions): Promise<string>;
  /** Deletes the objects; absent ones are not an error. */
  delete(keys: string[]): Promise<void>;
  /** Resolves when the store answers (HeadBucket); used by readiness. */
  ping(): Promise<void>;
}

export const OBJECT_STORAGE = Symbol('OBJECT_STORAGE');
