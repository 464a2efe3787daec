import type Redis from 'ioredis';
import {
  type Checkpoint,
  type FlushResult,
  LOG_CAP,
  type LogEntry,
  type NewSession,
  type Claimant,
  type ResumeStorePort,
  type StoredSession,
} from './resume-store.port';

// Flushes many sessions in one call. ARGV: key prefix, ttl ms, now ms, log cap, then 8 per
// session: id, owner, s, log entry ('' for none), changed positions "c=p,c=p", dropped "c,c",
// touch 0|1, released 0|1. Per session and flush: HGET + HSET + RPUSH (HDEL when it left a
// channel; LTRIM + 2 PEXPIRE when touching, a few times per TTL). Keys are built from the prefix
// here, so this script is for a single (non-cluster) Redis.
const FLUSH = `
local prefix, ttl, now, cap = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local out = {}
for i = 5, #ARGV, 8 do
  local meta = prefix .. 'gw:s:' .. ARGV[i]
  local log = meta .. ':log'
  local owner = redis.call('HGET', meta, 'o')
  if owner == false then
    out[#out + 1] = 2
  elseif owner ~= ARGV[i + 1] then
    out[#out + 1] = 0
  else
    local fields = {'s', ARGV[i + 2], 'at', now}
    if ARGV[i + 7] == '1' then fields[#fields + 1] = 'r'; fields[#fields + 1] = '1' end
    for c, p in string.gmatch(ARGV[i + 4], '([^=,]+)=(%d+)') do
      fields[#fields + 1] = 'p:' .. c
      fields[#fields + 1] = p
    end
    redis.call('HSET', meta, unpack(fields))
    if ARGV[i + 5] ~= '' then
      local drops = {}
      for c in string.gmatch(ARGV[i + 5], '[^,]+') do drops[#drops + 1] = 'p:' .. c end
      redis.call('HDEL', meta, unpack(drops))
    end
    if ARGV[i + 3] ~= '' then redis.call('RPUSH', log, ARGV[i + 3]) end
    if ARGV[i + 6] == '1' then
      redis.call('LTRIM', log, -cap, -1)
      redis.call('PEXPIRE', meta, ttl)
      redis.call('PEXPIRE', log, ttl)
    end
    out[#out + 1] = 1
  end
end
return out`;

// KEYS: meta, log. ARGV: userId, owner, tokenHash, ttl ms. Returns {meta fields, log, released before}.
const CLAIM = `
if redis.call('HGET', KEYS[1], 'u') ~= ARGV[1] then return false end
local released = redis.call('HGET', KEYS[1], 'r')
redis.call('HSET', KEYS[1], 'o', ARGV[2], 'h', ARGV[3], 'r', '0')
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return {redis.call('HGETALL', KEYS[1]), redis.call('LRANGE', KEYS[2], 0, -1), released or '0'}`;

/** Most sessions one flush call carries. */
const FLUSH_BATCH = 500;

type Script = (...args: (string | number)[]) => Promise<unknown>;

export function encodeEntry(e: LogEntry): string {
  return JSON.stringify({ f: e.from, i: e.items });
}

export function decodeEntry(text: string): LogEntry | undefined {
  try {
    const raw = JSON.parse(text) as { f?: unknown; i?: unknown };
    if (typeof raw.f !== 'number' || !Array.isArray(raw.i)) return undefined;
    return { from: raw.f, items: raw.i as LogEntry['items'] };
  } catch {
    return undefined;
  }
}

const encodePositions = (p: Map<string, number>) => [...p].map(([c, s]) => `${c}=${s}`).join(',');

/**
 * Sessions in Redis: `gw:s:<id>` (a hash: u userId, h token hash, o owner, r released, s last
 * frame, at last flush, c created, `p:<channelId>` position per channel) and `gw:s:<id>:log` (a
 * list of log entries). The connection's keyPrefix namespaces the keys.
 */
export class RedisResumeStore implements ResumeStorePort {
  private readonly flushScript: Script;
  private readonly claimScript: Script;

  constructor(
    private readonly redis: Redis,
    private readonly ttlMs: number,
  ) {
    redis.defineCommand('gwResumeFlush', { numberOfKeys: 0, lua: FLUSH });
    redis.defineCommand('gwResumeClaim', { numberOfKeys: 2, lua: CLAIM });
    const commands = redis as unknown as Record<'gwResumeFlush' | 'gwResumeClaim', Script>;
    this.flushScript = commands.gwResumeFlush.bind(redis);
    this.claimScript = commands.gwResumeClaim.bind(redis);
  }

  async create({ sessionId, userId, tokenHash, owner, s, positions, entry }: NewSession): Promise<void> {
    const [meta, log] = keys(sessionId);
    const now = Date.now();
    const fields: Record<string, string | number> = {
      u: userId,
      h: tokenHash,
      o: owner,
      r: 0,
      s,
      at: now,
      c: now,
    };
    for (const [c, p] of positions) fields[`p:${c}`] = p;
    const tx = this.redis.multi().del(meta, log).hset(meta, fields).pexpire(meta, this.ttlMs);
    if (entry) tx.rpush(log, encodeEntry(entry)).pexpire(log, this.ttlMs);
    const res = await tx.exec();
    const failed = res?.find(([err]) => err)?.[0];
    if (failed) throw failed;
  }

  async flush(batch: Checkpoint[]): Promise<FlushResult[]> {
    const out: FlushResult[] = [];
    const prefix = this.redis.options.keyPrefix ?? '';
    for (let i = 0; i < batch.length; i += FLUSH_BATCH) {
      const part = batch.slice(i, i + FLUSH_BATCH);
      const args: (string | number)[] = [prefix, this.ttlMs, Date.now(), LOG_CAP];
      for (const c of part) {
        args.push(
          c.sessionId,
          c.owner,
          c.s,
          c.entry ? encodeEntry(c.entry) : '',
          encodePositions(c.positions),
          c.dropped.join(','),
          c.touch ? '1' : '0',
          c.released ? '1' : '0',
        );
      }
      const res = (await this.flushScript(...args)) as number[];
      for (const r of res) out.push(r === 1 ? 'ok' : r === 2 ? 'missing' : 'lost');
    }
    return out;
  }

  async peek(sessionId: string): Promise<{ userId: string; released: boolean } | undefined> {
    const [userId, released] = await this.redis.hmget(keys(sessionId)[0], 'u', 'r');
    return userId ? { userId, released: released === '1' } : undefined;
  }

  async claim(sessionId: string, { userId, tokenHash, owner }: Claimant): Promise<StoredSession | undefined> {
    const [meta, log] = keys(sessionId);
    const res = (await this.claimScript(meta, log, userId, owner, tokenHash, this.ttlMs)) as
      [string[], string[], string] | null;
    if (!res) return undefined;
    const [flat, entries, released] = res;
    const fields = new Map<string, string>();
    for (let i = 0; i + 1 < flat.length; i += 2) fields.set(flat[i]!, flat[i + 1]!);
    const positions = new Map<string, number>();
    for (const [k, v] of fields) if (k.startsWith('p:')) positions.set(k.slice(2), Number(v));
    return {
      userId,
      tokenHash,
      createdAt: Number(fields.get('c') ?? 0),
      at: Number(fields.get('at') ?? 0),
      released: released === '1',
      s: Number(fields.get('s') ?? 0),
      positions,
      log: entries.map(decodeEntry).filter((e): e is LogEntry => e !== undefined),
    };
  }

  async destroy(sessionId: string): Promise<void> {
    await this.redis.del(...keys(sessionId));
  }
}

function keys(sessionId: string): [string, string] {
  return [`gw:s:${sessionId}`, `gw:s:${sessionId}:log`];
}
