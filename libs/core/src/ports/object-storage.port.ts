export interface PresignedUpload {
  url: string;
  method: 'PUT';
  headers: Record<string, string>;
  expiresAt: Date;
}

export interface StoredObject {
  size: number;
  contentType: string | undefined;
}

/** Where attachment bytes live. S3/MinIO with presigned URLs, or local disk when embedded. */
export interface ObjectStoragePort {
  presignUpload(
    key: string,
    contentType: string,
    size: number,
    expiresInSeconds: number,
  ): Promise<PresignedUpload>;
  head(key: string): Promise<StoredObject | undefined>;
  downloadUrl(key: string, filename: string): Promise<string>;
  /** Resolves when the store answers; used by readiness. */
  ping(): Promise<void>;
}

export const OBJECT_STORAGE = Symbol('OBJECT_STORAGE');
