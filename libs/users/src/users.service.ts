import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import * as argon2 from 'argon2';
import { DataSource, EntityManager } from 'typeorm';
import { AppConfig, BUS, BusPort, Db, isSnowflake, newSecret, sha256 } from '@cariosan/core';
import { ARGON2_OPTIONS, hashPassword, insertUser, lockAccountsAndCheckEmpty } from './accounts';
import { AuthToken } from './entities/auth-token.entity';
import { User } from './entities/user.entity';
import { recordInviteUser } from './invites';
import { admitRegistration, assertRegistrationOpen } from './registration';
import { UsersError, UsersErrorCode } from './users.errors';
import type { UserResponse } from './dto/user.response';
import { TokenCache } from './token-cache';

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

/** Hex SHA-256 of a bearer token: what auth_tokens stores (as bytes) and revocation marks name. */
export function tokenHashOf(token: string): string {
  return sha256(token).toString('hex');
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
    private readonly db: Db,
    @Inject(BUS) private readonly bus: BusPort,
    private readonly tokens: TokenCache,
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

  /**
   * Revokes the caller's token at once on every replica: the revocation mark goes to Redis first
   * (replicas check it for cached tokens; if Redis does not take it, the logout answers 503 and
   * nothing changed), then the token row is deleted.
   */
  async logout(auth: AuthenticatedUser): Promise<void> {
    await this.tokens.revoke(auth.tokenHash);
    await this.db.query('DELETE FROM auth_tokens WHERE token_hash = $1', [
      Buffer.from(auth.tokenHash, 'hex'),
    ]);
    this.tokens.forget(auth.tokenHash);
    // Closes the token's gateway sessions; REST does not depend on this message.
    await this.bus
      .publish(TOKEN_REVOKED_TOPIC, JSON.stringify({ userId: auth.id, tokenHash: auth.tokenHash }))
      .catch((err: unknown) => {
        this.logger.warn(`announcing a logout failed: ${err instanceof Error ? err.message : String(err)}`);
      });
  }

  /**
   * Resolves a bearer token to its user, or undefined when it is unknown or revoked. Cached in
   * process; see TokenCache for why a revoked token is refused at once on every replica.
   */
  async authenticate(token: string, tokenHash = tokenHashOf(token)): Promise<AuthenticatedUser | undefined> {
    const cached = await this.tokens.check(tokenHash);
    if (cached === 'revoked') return undefined;
    if (cached !== 'miss') return cached;
    return this.tokens.load(tokenHash, async () => {
      const [row] = await this.db.query<{
        id: string;
        username: string;
        display_name: string;
        is_admin: boolean;
      }>(
        `SELECT u.id::text AS id, u.username, u.display_name, u.is_admin
           FROM auth_tokens t JOIN users u ON u.id = t.user_id
          WHERE t.token_hash = $1`,
        [Buffer.from(tokenHash, 'hex')],
        'authenticate',
      );
      if (!row) return undefined;
      return {
        id: row.id,
        username: row.username,
        displayName: row.display_name,
        isAdmin: row.is_admin,
        tokenHash,
      };
    });
  }

  /** The user a token belongs to, if this replica has it cached (not checked for revocation). */
  cachedUser(tokenHash: string): AuthenticatedUser | undefined {
    return this.tokens.peek(tokenHash);
  }

  /** A user by id (a plain statement: `GET /users/@me` is a hot route). */
  async get(id: string): Promise<User> {
    if (!isSnowflake(id)) throw new UsersError(UsersErrorCode.UserNotFound);
    const [row] = await this.db.query<{
      id: string;
      username: string;
      display_name: string;
      password_hash: string | null;
      is_admin: boolean;
      is_bot: boolean;
      created_at: Date | string;
    }>(
      'SELECT id::text AS id, username, display_name, password_hash, is_admin, is_bot, created_at FROM users WHERE id = $1',
      [id],
      'user_by_id',
    );
    if (!row) throw new UsersError(UsersErrorCode.UserNotFound);
    return Object.assign(new User(), {
      id: row.id,
      username: row.username,
      displayName: row.display_name,
      passwordHash: row.password_hash,
      isAdmin: row.is_admin,
      isBot: row.is_bot,
      createdAt: new Date(row.created_at),
    });
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
