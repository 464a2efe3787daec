import { createHash, randomBytes } from 'node:crypto';

/** Milliseconds of 2026-01-01T00:00:00Z: the epoch of our Snowflake ids (see the init migration). */
export const SNOWFLAKE_EPOCH_MS = 1_767_225_600_000;

/** When a Snowflake id was minted. */
export function snowflakeTime(id: string): Date {
  return new Date(Number(BigInt(id) >> 22n) + SNOWFLAKE_EPOCH_MS);
}

/** A decimal string that fits a Postgres bigint: safe to use as a Snowflake cursor. */
export function isSnowflake(value: string): boolean {
  return /^\d{1,19}$/.test(value) && BigInt(value) <= 9_223_372_036_854_775_807n;
}

/** An opaque secret of 256 random bits with a recognisable prefix. */
export function newSecret(prefix: string): string {
  return `${prefix}${randomBytes(32).toString('base64url')}`;
}

export function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
