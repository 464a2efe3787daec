import type Redis from 'ioredis';
import { contiguousAfter, SESSION_FRAME_CAP, type ClaimedSession, type Replay, type SessionStorePort, type StoredFrame } from './session-store.port';

// KEYS: meta hash, frames list. ARGV: owner, seq, entry, ttl ms, cap, now ms.
const APPEND = `
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[3])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[5]), -1)
redis.call('HSET', KEYS[1], 'lastSeq', ARGV[2], 'lastAt', ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 1`;

// KEYS: meta hash, frames list. ARGV: userId, owner, tokenHash, ttl ms. Returns lastSeq, lastAt, createdAt.
const CLAIM = `
if redis.call('HGET', KEYS[1], 'userId') ~= ARGV[1] then return false end
redis.call('HSET', KEYS[1], 'owner', ARGV[2], 'tokenHash', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return redis.call('HMGET', KEYS[1], 'lastSeq', 'lastAt', 'createdAt')`;

type Script = (...args: (string | number)[]) => Promise<unknown>;

/** Entries are `<seq> <eventId> <frame>`: the frame is stored as sent, never re-serialised. */
function encode(f: StoredFrame): string {
  return `${f.seq} ${f.eventId} ${f.frame}`;
}

function decode(entry: string): StoredFrame | undefined {
  const a = entry.indexOf(' ');
  const b = entry.indexOf(' ', a + 1);
  if (a < 0 || b < 0) return undefined;
  return { seq: Number(entry.slice(0, a)), eventId: entry.slice(a + 1, b), frame: entry.slice(b + 1) };
}

/**
 * Sessions in Redis so every replica can resume them: `gw:session:<id>` (a capped list of
 * frames) and `gw:session:<id>:meta` (userId, tokenHash, owner, lastSeq, lastAt), both with
 * a TTL refreshed on every write. The connection's keyPrefix namespaces the keys.
 */
export class RedisSessionStore implements SessionStorePort {
  private readonly appendScript: Script;
  private readonly claimScript: Script;

  constructor(
    private readonly redis: Redis,
    private readonly ttlMs: number,
  ) {
    redis.defineCommand('gwSessionAppend', { numberOfKeys: 2, lua: APPEND });
    redis.defineCommand('gwSessionClaim', { numberOfKeys: 2, lua: CLAIM });
    const commands = redis as unknown as Record<'gwSessionAppend' | 'gwSessionClaim', Script>;
    this.appendScript = commands.gwSessionAppend.bind(redis);
    this.claimScript = commands.gwSessionClaim.bind(redis);
  }

  async create(sessionId: string, userId: string, tokenHash: string, owner: string): Promise<void> {
    const [meta, frames] = keys(sessionId);
    await this.redis
      .multi()
      .del(meta, frames)
      .hset(meta, { userId, tokenHash, owner, lastSeq: 0, lastAt: Date.now(), createdAt: Date.now() })
      .pexpire(meta, this.ttlMs)
      .exec();
  }

  async append(sessionId: string, owner: string, frame: StoredFrame): Promise<boolean> {
    const [meta, frames] = keys(sessionId);
    const ok = await this.appendScript(meta, frames, owner, frame.seq, encode(frame), this.ttlMs, SESSION_FRAME_CAP, Date.now());
    return ok === 1;
  }

  async touch(sessionId: string): Promise<void> {
    const [meta, frames] = keys(sessionId);
    await this.redis.multi().pexpire(meta, this.ttlMs).pexpire(frames, this.ttlMs).exec();
  }

  async claim(sessionId: string, userId: string, tokenHash: string, owner: string): Promise<ClaimedSession | undefined> {
    const [meta, frames] = keys(sessionId);
    const res = (await this.claimScript(meta, frames, userId, owner, tokenHash, this.ttlMs)) as [string, string, string] | null;
    if (!res) return undefined;
    return { lastSeq: Number(res[0]), lastAt: Number(res[1]), createdAt: Number(res[2]) };
  }

  async framesAfter(sessionId: string, seq: number): Promise<Replay | undefined> {
    const [meta, frames] = keys(sessionId);
    const res = await this.redis.multi().hget(meta, 'lastSeq').lrange(frames, 0, -1).exec();
    if (!res) return undefined;
    const [[e1, lastSeq], [e2, entries]] = res as [[Error | null, string | null], [Error | null, string[]]];
    const failed = e1 ?? e2;
    if (failed) throw failed;
    if (lastSeq === null) return undefined;
    const decoded = entries.map(decode).filter((f): f is StoredFrame => f !== undefined);
    return contiguousAfter(decoded, seq, Number(lastSeq));
  }

  async destroy(sessionId: string): Promise<void> {
    await this.redis.del(...keys(sessionId));
  }
}

function keys(sessionId: string): [string, string] {
  return [`gw:session:${sessionId}:meta`, `gw:session:${sessionId}`];
}
