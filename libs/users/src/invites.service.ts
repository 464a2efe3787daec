import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { isSnowflake, PageQuery } from '@cariosan/core';
import { createInvite, deleteInvite, DEFAULT_INVITE_TTL_SECONDS, InviteView, listInvites } from './invites';
import type { AuthenticatedUser } from './users.service';
import { UsersError, UsersErrorCode } from './users.errors';

/** Invite codes, managed by server admins (the admin command mints them from the shell too). */
@Injectable()
export class InvitesService {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async create(
    me: AuthenticatedUser,
    expiresInSeconds = DEFAULT_INVITE_TTL_SECONDS,
  ): Promise<InviteView & { code: string }> {
    requireAdmin(me);
    const { invite, code } = await createInvite(this.dataSource.manager, me.id, expiresInSeconds);
    return { ...invite, code };
  }

  async list(me: AuthenticatedUser, page: PageQuery): Promise<InviteView[]> {
    requireAdmin(me);
    return listInvites(this.dataSource.manager, page);
  }

  async delete(me: AuthenticatedUser, id: string): Promise<void> {
    requireAdmin(me);
    if (!isSnowflake(id) || !(await deleteInvite(this.dataSource.manager, id))) {
      throw new UsersError(UsersErrorCode.InviteNotFound);
    }
  }
}

function requireAdmin(me: AuthenticatedUser): void {
  if (!me.isAdmin) throw new UsersError(UsersErrorCode.AdminOnly);
}
