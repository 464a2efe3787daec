import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import * as argon2 from 'argon2';
import { DataSource, EntityManager } from 'typeorm';
import { AppConfig, BUS, BusPort, isSnowflake, newSecret, sha256 } from '@cariosan/core';
import { ARGON2_OPTIONS, hashPassword, insertUser, lockAccountsAndCheckEmpty } from './accounts';
import { AuthToken } from './entities/auth-token.entity';
import { User } from './entities/user.entity';
import { recordInviteUser } from './invites';
import { admitRegistration, assertRegistrationOpen } from './registration';
import { UsersError, UsersErrorCode } from './users.errors';
import type { UserResponse } from './dto/user.response';

/** Bus topic on which revoked tokens are announced (the gateway closes their sessions). */
export const TOKEN_REVOKED_TOPIC = 'auth.token-revoked';

export interface AuthenticatedUser {
  id: string;
  username: string;
  displayName: string;
  isAdmin: boolean;
  /** Hex SHA-256 of the bearer token this request carried. */
  tokenHash: string;
}

export function toUserView(u: User): UserResponse {
  return {
    id: u.id,
    username: u.username,
    displayName: u.displayName,
    isAdmin: u.isAdmin,
    isBot: u.isBot,
    createdAt: u.createdAt.toISOString(),
  };
}

@Injectable()
export class UsersService implements OnApplicationBootstrap {
  private readonly logger = new Logger('UsersService');
  /** Verified against when the username is unknown, so both failures cost the same time. */
  private readonly dummyHash = argon2.hash('not-a-real-password', ARGON2_OPTIONS);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(BUS) private readonly bus: BusPort,
    private readonly config: AppConfig,
  ) {}

  /** Says so at boot when whoever registers first will own the server. */
  async onApplicationBootstrap(): Promise<void> {
    if (this.config.registration === 'closed' || this.config.adminUsername) return;
    // Advice only: with migrations pending (CARIOS_MIGRATE_ON_BOOT=false) there is no table to ask yet.
    const any = await this.dataSource
      .query<[{ any: boolean }]>('SELECT EXISTS (SELECT 1 FROM users WHERE NOT is_bot) AS any')
      .then(
        ([row]) => row.any,
        () => true,
      );
    if (!any) {
      this.logger.warn(
        'no account exists yet: the first one registered becomes the server admin. Set CARIOS_ADMIN_USERNAME, ' +
          'or CARIOS_REGISTRATION=invite|closed and create the admin with the admin command (see docs/operations.md)',
      );
    }
  }

  async register(
    username: string,
    password: string,
    displayName?: string,
    inviteCode?: string,
  ): Promise<{ user: User; token: string }> {
    assertRegistrationOpen(this.config);
    const passwordHash = await hashPassword(password);
    return this.dataSource.transaction(async (em) => {
      const firstUser = await lockAccountsAndCheckEmpty(em);
      const invite = await admitRegistration(em, this.config, { username, inviteCode, firstUser });
      const user = await insertUser(em, {
        username,
        displayName: displayName ?? username,
        passwordHash,
        isAdmin: firstUser,
      });
      if (!user) throw new UsersError(UsersErrorCode.UsernameTaken);
      if (invite) await recordInviteUser(em, invite, user.id);
      const token = await this.issueToken(em, user.id);
      return { user, token };
    });
  }

  async login(username: string, password: string): Promise<{ user: User; token: string }> {
    const user = await this.dataSource.getRepository(User).findOneBy({ username, isBot: false });
    const ok = await argon2.verify(user?.passwordHash ?? (await this.dummyHash), password).catch(() => false);
    if (!user || !ok) throw new UsersError(UsersErrorCode.BadCredentials);
    const token = await this.issueToken(this.dataSource.manager, user.id);
    return { user, token };
  }

  async logout(auth: AuthenticatedUser): Promise<void> {
    await this.dataSource.getRepository(AuthToken).delete({ tokenHash: Buffer.from(auth.tokenHash, 'hex') });
    // The token is dead on REST already; with Redis down, open gateway sessions of it stay until they reconnect.
    await this.bus
      .publish(TOKEN_REVOKED_TOPIC, JSON.stringify({ userId: auth.id, tokenHash: auth.tokenHash }))
      .catch((err: unknown) => {
        this.logger.warn(`announcing a logout failed: ${err instanceof Error ? err.message : String(err)}`);
      });
  }

  /** Resolves a bearer token to its user, or undefined when it is unknown or revoked. */
  async authenticate(token: string): Promise<AuthenticatedUser | undefined> {
    const hash = sha256(token);
    const rows = await this.dataSource.query<
      { id: string; username: string; display_name: string; is_admin: boolean }[]
    >(
      `SELECT u.id, u.username, u.display_name, u.is_admin
         FROM auth_tokens t JOIN users u ON u.id = t.user_id
        WHERE t.token_hash = $1`,
      [hash],
    );
    const row = rows[0];
    if (!row) return undefined;
    return {
      id: row.id,
      username: row.username,
      displayName: row.display_name,
      isAdmin: row.is_admin,
      tokenHash: hash.toString('hex'),
    };
  }

  async get(id: string): Promise<User> {
    const user = isSnowflake(id) ? await this.dataSource.getRepository(User).findOneBy({ id }) : null;
    if (!user) throw new UsersError(UsersErrorCode.UserNotFound);
    return user;
  }

  async update(id: string, changes: { displayName?: string }): Promise<User> {
    if (changes.displayName !== undefined) {
      await this.dataSource.getRepository(User).update({ id }, { displayName: changes.displayName });
    }
    return this.get(id);
  }

  private async issueToken(em: EntityManager, userId: string): Promise<string> {
    const token = newSecret('cst_');
    await em.insert(AuthToken, { tokenHash: sha256(token), userId });
    return token;
  }
}
