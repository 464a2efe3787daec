import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { AppConfig } from '@cariosan/core';

const SEALED = 'sealed:v1:';

/**
 * Keeps webhook secrets encrypted at rest (AES-256-GCM, key derived from
 * CARIOS_WEBHOOK_SECRET_KEY) when that setting is given; without it they are stored as they are.
 * Either form is read back, so the key can be added later (new and rotated secrets get sealed).
 */
@Injectable()
export class SecretBox {
  private readonly key: Buffer | undefined;

  constructor(config: AppConfig) {
    this.key = config.webhookSecretKey
      ? createHash('sha256').update(config.webhookSecretKey).digest()
      : undefined;
  }

  seal(secret: string): string {
    if (!this.key) return secret;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const data = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
    return SEALED + Buffer.concat([iv, cipher.getAuthTag(), data]).toString('base64');
  }

  /** The secret, or undefined when it is sealed and the key is missing or wrong. */
  open(stored: string): string | undefined {
    if (!stored.startsWith(SEALED)) return stored;
    if (!this.key) return undefined;
    try {
      const raw = Buffer.from(stored.slice(SEALED.length), 'base64');
      const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(12, 28));
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
    } catch {
      return undefined;
    }
  }
}
