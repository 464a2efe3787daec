import { Inject, Injectable, Logger } from '@nestjs/common';
import type Redis from 'ioredis';
import { LRUCache } from 'lru-cache';
import { describeError, REDIS } from '@cariosan/core';
import type { AuthenticatedUser } from './users.service';

/** How long a replica trusts a token it looked up (bounds staleness of `isAdmin` and of tokens removed outside logout). */
export const TOKEN_CACHE_TTL_MS = 10_000;
/** How long a logout's revocation mark lives in Redis: well beyond any cached entry it must override. */
export const REVOCATION_TTL_MS = 6 * TOKEN_CACHE_TTL_MS;
const MAX_CACHED_TOKENS = 20_000;

const revokedKey = (tokenHash: string) => `revoked:${tokenHash}`;

/**
 * Tokens this replica looked up recently, by hash, so that a request costs no database round trip
 * for its token. Revocation holds across replicas without the bus: logout writes a short-lived
 * `revoked:<hash>` mark to Redis before deleting the token, and every use of a cached token asks
 * Redis for that mark, in the same round trip as the rate-limit count (ioredis sends commands of
 * one tick in one write). When Redis does not answer, the token is looked up in the database.
 * Entries are dropped whenever the Redis connection drops (a restarted Redis has lost its marks),
 * and a lookup that overlapped such a drop is not cached. Embedded (no Redis): one process, and
 * logout evicts its entry directly.
 */
@Injectable()
export class TokenCache {
  private readonly logger = new Logger('TokenCache');
  private readonly entries = new LRUCache<string, AuthenticatedUser>({
    max: MAX_CACHED_TOKENS,
    ttl: TOKEN_CACHE_TTL_MS,
  });
  /** Bumped whenever the Redis connection drops. */
  private generation = 0;

  constructor(@Inject(REDIS) private readonly redis: Redis | null) {
    redis?.on('close', () => {
      this.generation++;
      this.entries.clear();
    });
  }

  /** The cached user of a token hash, without checking revocation (to pick a rate-limit bucket). */
  peek(tokenHash: string): AuthenticatedUser | undefined {
    return this.entries.get(tokenHash);
  }

  /**
   * The cached user, if the token is cached and not revoked; `miss` when it must be looked up.
   * Issues the Redis check synchronously, so it leaves in the same write as the caller's other
   * commands of this tick.
   */
  async check(tokenHash: string): Promise<AuthenticatedUser | 'revoked' | 'miss'> {
    const cached = this.entries.get(tokenHash);
    if (!cached) return 'miss';
    if (!this.redis) return cached;
    try {
      if ((await this.redis.exists(revokedKey(tokenHash))) === 0) return cached;
      this.entries.delete(tokenHash);
      return 'revoked';
    } catch (err) {
      this.logger.debug(`revocation check failed, asking the database: ${describeError(err).message}`);
      this.entries.delete(tokenHash);
      return 'miss';
    }
  }

  /** Looks a token up with `lookup` and caches the answer unless Redis dropped meanwhile. */
  async load(
    tokenHash: string,
    lookup: () => Promise<AuthenticatedUser | undefined>,
  ): Promise<AuthenticatedUser | undefined> {
    const generation = this.generation;
    const trusted = !this.redis || this.redis.status === 'ready';
    const user = await lookup();
    if (user && trusted && generation === this.generation) this.entries.set(tokenHash, user);
    return user;
  }

  /**
   * Marks a token revoked for every replica (before the caller deletes it). Rejects when Redis
   * does not take the mark: the logout must then fail (503) rather than leave it usable from a
   * replica's cache.
   */
  async revoke(tokenHash: string): Promise<void> {
    this.entries.delete(tokenHash);
    await this.redis?.set(revokedKey(tokenHash), '1', 'PX', REVOCATION_TTL_MS);
  }

  forget(tokenHash: string): void {
    this.entries.delete(tokenHash);
  }
}
