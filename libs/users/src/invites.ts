import type { EntityManager } from 'typeorm';
import { newSecret, queryRows, sha256 } from '@cariosan/core';

export const DEFAULT_INVITE_TTL_SECONDS = 7 * 86_400;
export const MAX_INVITE_TTL_SECONDS = 30 * 86_400;
export const MIN_INVITE_TTL_SECONDS = 60;

export interface InviteView {
  id: string;
  /** Null when created from the shell (`admin invite`). */
  createdBy: string | null;
  createdAt: string;
  expiresAt: string;
  usedAt: string | null;
  usedBy: string | null;
}

interface InviteRow {
  id: string;
  created_by: string | null;
  created_at: Date;
  expires_at: Date;
  used_at: Date | null;
  used_by: string | null;
}

const INVITE_COLUMNS = 'id, created_by, created_at, expires_at, used_at, used_by';

function toInviteView(r: InviteRow): InviteView {
  return {
    id: r.id,
    createdBy: r.created_by,
    createdAt: r.created_at.toISOString(),
    expiresAt: r.expires_at.toISOString(),
    usedAt: r.used_at ? r.used_at.toISOString() : null,
    usedBy: r.used_by,
  };
}

/** Mints an invite; the code is returned once and only its hash is kept. */
export async function createInvite(
  em: EntityManager,
  createdBy: string | null,
  ttlSeconds: number,
): Promise<{ invite: InviteView; code: string }> {
  const code = newSecret('inv_');
  const [row] = await queryRows<InviteRow>(
    em,
    `INSERT INTO invites (code_hash, created_by, expires_at)
     VALUES ($1, $2, now() + make_interval(secs => $3))
     RETURNING ${INVITE_COLUMNS}`,
    [sha256(code), createdBy, ttlSeconds],
  );
  return { invite: toInviteView(row!), code };
}

/**
 * Marks an unused, unexpired invite as used and returns its id, or undefined. The row lock the
 * UPDATE takes makes a code single-use even when two registrations race with it.
 */
export async function claimInvite(em: EntityManager, code: string): Promise<string | undefined> {
  const [row] = await queryRows<{ id: string }>(
    em,
    `UPDATE invites SET used_at = now()
      WHERE code_hash = $1 AND used_at IS NULL AND expires_at > now()
      RETURNING id`,
    [sha256(code)],
  );
  return row?.id;
}

export async function recordInviteUser(em: EntityManager, inviteId: string, userId: string): Promise<void> {
  await em.query('UPDATE invites SET used_by = $2 WHERE id = $1', [inviteId, userId]);
}

export async function listInvites(
  em: EntityManager,
  page: { before?: string; limit: number },
): Promise<InviteView[]> {
  const rows = await em.query<InviteRow[]>(
    `SELECT ${INVITE_COLUMNS} FROM invites
      WHERE ($1::bigint IS NULL OR id < $1::bigint)
      ORDER BY id DESC LIMIT $2`,
    [page.before ?? null, page.limit],
  );
  return rows.map(toInviteView);
}

/** Deletes an invite (used or not); false when there is none with that id. */
export async function deleteInvite(em: EntityManager, id: string): Promise<boolean> {
  const rows = await queryRows<{ id: string }>(em, 'DELETE FROM invites WHERE id = $1 RETURNING id', [id]);
  return rows.length > 0;
}
