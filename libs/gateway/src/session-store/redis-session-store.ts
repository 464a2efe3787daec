import type Redis from 'ioredis';
import { dispatchFrame } from '../protocol';
import {
  contiguousAfter,
  SESSION_FRAME_CAP,
  type ClaimedSession,
  type Replay,
  type SessionStorePort,
  type StoredFrame,
} from './session-store.port';

// Appends frames of many sessions in one call (a fanout stores one frame per session).
// ARGV: key prefix, ttl ms, cap, now ms, event count N, then N pairs (event id, payload),
// then per frame: session id, owner, seq, entry. An event's payload is stored once
// (`gw:event:<id>`), however many sessions it went to; session lists hold only references.
// Keys are built here from the prefix, so this script is for a single (non-cluster) Redis.
const APPEND_MANY = `
local prefix, ttl, cap, now = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local events = tonumber(ARGV[5])
for i = 6, 5 + events * 2, 2 do
  redis.call('SET', prefix .. 'gw:event:' .. ARGV[i], ARGV[i + 1], 'PX', ttl, 'NX')
end
local out = {}
for i = 6 + events * 2, #ARGV, 4 do
  local meta = prefix .. 'gw:session:' .. ARGV[i] .. ':meta'
  local frames = prefix .. 'gw:session:' .. ARGV[i]
  if redis.call('HGET', meta, 'owner') ~= ARGV[i + 1] then
    out[#out + 1] = 0
  else
    redis.call('RPUSH', frames, ARGV[i + 3])
    redis.call('LTRIM', frames, -cap, -1)
    redis.call('HSET', meta, 'lastSeq', ARGV[i + 2], 'lastAt', now)
    redis.call('PEXPIRE', meta, ttl)
    redis.call('PEXPIRE', frames, ttl)
    out[#out + 1] = 1
  end
end
return out`;

/** Most frames one append call carries. */
const APPEND_BATCH = 1000;

interface PendingAppend {
  sessionId: string;
  owner: string;
  frame: StoredFrame;
  resolve: (owned: boolean) => void;
  reject: (err: unknown) => void;
}

// KEYS: meta hash, frames list. ARGV: userId, owner, tokenHash, ttl ms. Returns lastSeq, lastAt, createdAt.
const CLAIM = `
if redis.call('HGET', KEYS[1], 'userId') ~= ARGV[1] then return false end
redis.call('HSET', KEYS[1], 'owner', ARGV[2], 'tokenHash', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return redis.call('HMGET', KEYS[1], 'lastSeq', 'lastAt', 'createdAt')`;

type Script = (...args: (string | number)[]) => Promise<unknown>;

/**
 * List entries: `<seq> <eventId> <type>` for an event (its payload lives once under
 * `gw:event:<id>`), or `<seq> - <frame>` for a frame of no event (READY, RESUMED).
 */
function encode(f: StoredFrame): string {
  return f.eventId ? `${f.seq} ${f.eventId} ${f.type}` : `${f.seq} - ${f.frame}`;
}

interface Entry {
  seq: number;
  eventId: string;
  /** The dispatch type for an event, the whole frame otherwise. */
  rest: string;
}

function decode(entry: string): Entry | undefined {
  const a = entry.indexOf(' ');
  const b = entry.indexOf(' ', a + 1);
  if (a < 0 || b < 0) return undefined;
  const id = entry.slice(a + 1, b);
  return { seq: Number(entry.slice(0, a)), eventId: id === '-' ? '' : id, rest: entry.slice(b + 1) };
}

/**
 * Sessions in Redis so every replica can resume them: `gw:session:<id>` (a capped list of
 * frames) and `gw:session:<id>:meta` (userId, tokenHash, owner, lastSeq, lastAt), both with
 * a TTL refreshed on every write. The connection's keyPrefix namespaces the keys.
 */
export class RedisSessionStore implements SessionStorePort {
  private readonly appendManyScript: Script;
  private readonly claimScript: Script;
  private pending: PendingAppend[] = [];

  constructor(
    private readonly redis: Redis,
    private readonly ttlMs: number,
  ) {
    redis.defineCommand('gwSessionAppendMany', { numberOfKeys: 0, lua: APPEND_MANY });
    redis.defineCommand('gwSessionClaim', { numberOfKeys: 2, lua: CLAIM });
    const commands = redis as unknown as Record<'gwSessionAppendMany' | 'gwSessionClaim', Script>;
    this.appendManyScript = commands.gwSessionAppendMany.bind(redis);
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

  /**
   * Queues the frame; everything appended in the same tick goes to Redis in one script call,
   * in order, so one event fanned out to many sessions costs one round trip, not one each.
   */
  append(sessionId: string, owner: string, frame: StoredFrame): Promise<boolean> {
    return new Promise((resolve, reject) => {
      if (this.pending.length === 0) queueMicrotask(() => this.flush());
      this.pending.push({ sessionId, owner, frame, resolve, reject });
    });
  }

  private flush(): void {
    const all = this.pending;
    this.pending = [];
    for (let i = 0; i < all.length; i += APPEND_BATCH) {
      const batch = all.slice(i, i + APPEND_BATCH);
      const prefix = this.redis.options.keyPrefix ?? '';
      const payloads = new Map<string, string>();
      for (const p of batch) if (p.frame.eventId) payloads.set(p.frame.eventId, p.frame.dataJson);
      const args = [
        prefix,
        this.ttlMs,
        SESSION_FRAME_CAP,
        Date.now(),
        payloads.size,
        ...[...payloads].flat(),
        ...batch.flatMap((p) => [p.sessionId, p.owner, String(p.frame.seq), encode(p.frame)]),
      ];
      this.appendManyScript(...args).then(
        (owned) => batch.forEach((p, j) => p.resolve((owned as number[])[j] === 1)),
        (err: unknown) => batch.forEach((p) => p.reject(err)),
      );
    }
  }

  async touch(sessionId: string): Promise<void> {
    const [meta, frames] = keys(sessionId);
    await this.redis.multi().pexpire(meta, this.ttlMs).pexpire(frames, this.ttlMs).exec();
  }

  async claim(
    sessionId: string,
    userId: string,
    tokenHash: string,
    owner: string,
  ): Promise<ClaimedSession | undefined> {
    const [meta, frames] = keys(sessionId);
    const res = (await this.claimScript(meta, frames, userId, owner, tokenHash, this.ttlMs)) as
      [string, string, string] | null;
    if (!res) return undefined;
    return { lastSeq: Number(res[0]), lastAt: Number(res[1]), createdAt: Number(res[2]) };
  }

  async framesAfter(sessionId: string, seq: number): Promise<Replay | undefined> {
    const [meta, list] = keys(sessionId);
    const res = await this.redis.multi().hget(meta, 'lastSeq').lrange(list, 0, -1).exec();
    if (!res) return undefined;
    const [[e1, lastSeq], [e2, entries]] = res as [[Error | null, string | null], [Error | null, string[]]];
    const failed = e1 ?? e2;
    if (failed) throw failed;
    if (lastSeq === null) return undefined;
    const decoded = entries.map(decode).filter((e): e is Entry => e !== undefined);
    // Payloads only for the frames to replay; older entries count for their event ids alone.
    const wanted = [...new Set(decoded.filter((e) => e.seq > seq && e.eventId).map((e) => e.eventId))];
    const bodies = wanted.length ? await this.redis.mget(...wanted.map((id) => `gw:event:${id}`)) : [];
    const payload = new Map(wanted.map((id, i) => [id, bodies[i]]));
    const frames: StoredFrame[] = [];
    for (const e of decoded) {
      if (!e.eventId) {
        frames.push({ seq: e.seq, eventId: '', type: '', dataJson: '', frame: e.rest });
        continue;
      }
      const dataJson = payload.get(e.eventId);
      if (e.seq > seq && (dataJson === undefined || dataJson === null)) return undefined;
      frames.push({
        seq: e.seq,
        eventId: e.eventId,
        type: e.rest,
        dataJson: dataJson ?? '',
        frame: dataJson ? dispatchFrame(e.rest, e.seq, dataJson) : '',
      });
    }
    return contiguousAfter(frames, seq, Number(lastSeq));
  }

  async destroy(sessionId: string): Promise<void> {
    await this.redis.del(...keys(sessionId));
  }
}

function keys(sessionId: string): [string, string] {
  return [`gw:session:${sessionId}:meta`, `gw:session:${sessionId}`];
}
