import type { EntityManager } from 'typeorm';
import { AppConfig, ValidationError } from '@cariosan/core';
import { claimInvite } from './invites';
import { UsersError, UsersErrorCode } from './users.errors';

/** Refuses before any work is spent (hashing the password) when nobody may register over HTTP. */
export function assertRegistrationOpen(config: AppConfig): void {
  if (config.registration === 'closed') throw new UsersError(UsersErrorCode.RegistrationClosed);
}

/**
 * Decides, inside the registration's transaction and under the first-user lock, whether
 * `username` may register. Returns the id of the invite it used, if any (claimed, so single-use).
 *
 * - `closed`: nobody (accounts come from the admin command).
 * - `CARIOS_ADMIN_USERNAME` set and no account yet: only that name (it becomes the admin),
 *   with or without an invite: that is how an invite-only server gets its first admin.
 * - `invite`: everyone else needs an unused, unexpired invite code.
 * - `open`: anyone; an invite code, if sent, is ignored.
 */
export async function admitRegistration(
  em: EntityManager,
  config: AppConfig,
  req: { username: string; inviteCode?: string; firstUser: boolean },
): Promise<string | undefined> {
  assertRegistrationOpen(config);
  if (req.firstUser && config.adminUsername !== undefined) {
    if (req.username !== config.adminUsername) throw new UsersError(UsersErrorCode.AdminRegistersFirst);
    return undefined;
  }
  if (config.registration === 'open') return undefined;
  if (req.inviteCode === undefined) {
    throw new ValidationError([
      { field: 'inviteCode', message: 'an invite code is required to register on this server' },
    ]);
  }
  const invite = await claimInvite(em, req.inviteCode);
  if (!invite) throw new UsersError(UsersErrorCode.InviteInvalid);
  return invite;
}
