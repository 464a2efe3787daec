import { randomBytes, createHash } from 'node:crypto';
import type { Client } from 'pg';

export interface SeededUser {
  id: string;
  username: string;
  token: string;
}

/** The same token format and hash the users lib issues (`cst_` + 256 random bits; SHA-256 bytes). */
function newToken(): { token: string; hash: Buffer } {
  const token = `cst_${randomBytes(32).toString('base64url')}`;
  return { token, hash: createHash('sha256').update(token, 'utf8').digest() };
}

/**
 * Inserts users and one login token each straight into the database: registering thousands of
 * users through REST would spend minutes in Argon2 and measure nothing the bench cares about.
 */
export async function insertUsers(db: Client, count: number, prefix: string): Promise<SeededUser[]> {
  const out: SeededUser[] = [];
  for (let from = 0; from < count; from += 1000) {
    const n = Math.min(1000, count - from);
    const names = Array.from({ length: n }, (_, i) => `${prefix}${from + i}`);
    const { rows } = await db.query<{ id: string; username: string }>(
      `INSERT INTO users (username, display_name) SELECT u, u FROM unnest($1::text[]) AS u RETURNING id, username`,
      [names],
    );
    const tokens = rows.map(() => newToken());
    await db.query(
      `INSERT INTO auth_tokens (token_hash, user_id) SELECT * FROM unnest($1::bytea[], $2::bigint[])`,
      [tokens.map((t) => t.hash), rows.map((r) => r.id)],
    );
    rows.forEach((r, i) => out.push({ id: r.id, username: r.username, token: tokens[i]!.token }));
  }
  return out;
}

/** Adds members straight into channel_members (the gateway reads membership when a session starts). */
export async function insertMembers(db: Client, channelId: string, userIds: string[]): Promise<void> {
  for (let from = 0; from < userIds.length; from += 5000) {
    await db.query(
      `INSERT INTO channel_members (channel_id, user_id, role) SELECT $1, u, 'member' FROM unnest($2::bigint[]) AS u
       ON CONFLICT DO NOTHING`,
      [channelId, userIds.slice(from, from + 5000)],
    );
  }
}

/** JSON REST call with a bearer token; throws on an unexpected status. */
export async function api<T>(
  baseUrl: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path} answered ${res.status}: ${text.slice(0, 300)}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/** A public channel created through the API by `owner` (so the channels lib sets it up its own way). */
export async function createChannel(baseUrl: string, owner: SeededUser, name: string): Promise<string> {
  const ch = await api<{ id: string }>(baseUrl, owner.token, 'POST', '/api/v1/channels', {
    name,
    kind: 'public',
  });
  return ch.id;
}
