import type Redis from 'ioredis';
import type {
  ChosenStatus,
  PresenceChange,
  PresencePort,
  PresenceSession,
  PresenceStatus,
  PresenceUpdate,
} from '@cariosan/core';

/**
 * Keys (under the client's prefix, which the scripts get as ARGV[1] to name per-user keys):
 * - `presence:s:<user>` zset: live session id -> expiry (ms, Redis clock); `presence:t:<user>`
 *   hash: session id -> start (ms), for the cap's "oldest first";
 * - `presence:a:<user>`: the status last announced; `offline` is kept for 10 minutes, so absent
 *   means offline too, or that a restarted Redis lost it; `presence:c:<user>`: the status the
 *   user chose (absent: online);
 * - `presence:live` zset: user -> their latest session expiry, what the sweep walks;
 * - `presence:x:<session>`: an evicted session, so its holder's refresh does not bring it back;
 * - `presence:v`: the change counter (kept at or above the clock in ms).
 * Every decision runs in one script on the Redis clock, so exactly one caller sees each change.
 */
const PRELUDE = `
local pfx = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function prune(uid)
  local sk = pfx .. 'presence:s:' .. uid
  local gone = redis.call('ZRANGEBYSCORE', sk, '-inf', now)
  if #gone > 0 then
    redis.call('ZREMRANGEBYSCORE', sk, '-inf', now)
    redis.call('HDEL', pfx .. 'presence:t:' .. uid, unpack(gone))
  end
end
local function version()
  -- Never below the clock (ms): a Redis that lost the counter does not restart it below old versions.
  local v = redis.call('INCR', pfx .. 'presence:v')
  if v < now then
    v = now
    redis.call('SET', pfx .. 'presence:v', string.format('%d', now))
  end
  return v
end
-- Brings the announced status in line with the live sessions; returns the change, if any.
local function settle(uid, out)
  prune(uid)
  local sk = pfx .. 'presence:s:' .. uid
  local ak = pfx .. 'presence:a:' .. uid
  local cur = redis.call('GET', ak) or 'offline'
  local want = 'offline'
  local top = redis.call('ZRANGE', sk, -1, -1, 'WITHSCORES')
  if #top > 0 then
    want = redis.call('GET', pfx .. 'presence:c:' .. uid) or 'online'
    redis.call('ZADD', pfx .. 'presence:live', top[2], uid)
    redis.call('PEXPIREAT', sk, top[2])
    redis.call('PEXPIREAT', pfx .. 'presence:t:' .. uid, top[2])
    redis.call('SET', ak, want)
  else
    redis.call('ZREM', pfx .. 'presence:live', uid)
    redis.call('DEL', pfx .. 'presence:t:' .. uid)
    redis.call('SET', ak, 'offline', 'PX', 600000)
  end
  if want ~= cur then out[#out + 1] = {uid, want, version()} end
end
`;

/** ARGV: prefix, user, session, startedAt, ttl, max. Returns {changes, evicted}. */
const CONNECT = `${PRELUDE}
local uid, sid, ttl, max = ARGV[2], ARGV[3], tonumber(ARGV[5]), tonumber(ARGV[6])
local sk = pfx .. 'presence:s:' .. uid
local tk = pfx .. 'presence:t:' .. uid
redis.call('DEL', pfx .. 'presence:x:' .. sid)
redis.call('ZADD', sk, now + ttl, sid)
redis.call('HSETNX', tk, sid, ARGV[4])
prune(uid)
local evicted = {}
local n = redis.call('ZCARD', sk)
if n > max then
  local ids = redis.call('ZRANGE', sk, 0, -1)
  local starts = redis.call('HMGET', tk, unpack(ids))
  local order = {}
  for i, id in ipairs(ids) do order[i] = {tonumber(starts[i]) or now, id} end
  table.sort(order, function(a, b) if a[1] == b[1] then return a[2] < b[2] end return a[1] < b[1] end)
  for i = 1, n - max do
    local id = order[i][2]
    redis.call('ZREM', sk, id)
    redis.call('HDEL', tk, id)
    redis.call('SET', pfx .. 'presence:x:' .. id, '1', 'PX', ttl * 2)
    evicted[#evicted + 1] = id
  end
end
local changes = {}
settle(uid, changes)
return {changes, evicted}
`;

/** ARGV: prefix, ttl, then user, session, startedAt per session. Returns {changes, evicted}. */
const REFRESH = `${PRELUDE}
local ttl = tonumber(ARGV[2])
local users, evicted, changes = {}, {}, {}
for i = 3, #ARGV, 3 do
  local uid, sid = ARGV[i], ARGV[i + 1]
  if redis.call('EXISTS', pfx .. 'presence:x:' .. sid) == 1 then
    evicted[#evicted + 1] = sid
  else
    redis.call('ZADD', pfx .. 'presence:s:' .. uid, now + ttl, sid)
    redis.call('HSETNX', pfx .. 'presence:t:' .. uid, sid, ARGV[i + 2])
    users[uid] = true
  end
end
for uid in pairs(users) do settle(uid, changes) end
return {changes, evicted}
`;

/** ARGV: prefix, user, session, grace. */
const DISCONNECT = `${PRELUDE}
local uid, sid, grace = ARGV[2], ARGV[3], tonumber(ARGV[4])
if grace > 0 then
  redis.call('ZADD', pfx .. 'presence:s:' .. uid, 'XX', 'LT', now + grace, sid)
  -- Ended: first to go when the user is over the cap (before any live session).
  if redis.call('HEXISTS', pfx .. 'presence:t:' .. uid, sid) == 1 then
    redis.call('HSET', pfx .. 'presence:t:' .. uid, sid, '0')
  end
else
  redis.call('ZREM', pfx .. 'presence:s:' .. uid, sid)
  redis.call('HDEL', pfx .. 'presence:t:' .. uid, sid)
end
local changes = {}
settle(uid, changes)
return changes
`;

/** ARGV: prefix, user, session. */
const END_LOST = `${PRELUDE}
local uid, sid = ARGV[2], ARGV[3]
local known = redis.call('EXISTS', pfx .. 'presence:a:' .. uid) == 1
redis.call('ZREM', pfx .. 'presence:s:' .. uid, sid)
redis.call('HDEL', pfx .. 'presence:t:' .. uid, sid)
local changes = {}
settle(uid, changes)
if #changes == 0 and not known and redis.call('ZCARD', pfx .. 'presence:s:' .. uid) == 0 then
  changes[1] = {uid, 'offline', version()}
end
return changes
`;

/** ARGV: prefix, user, status. */
const SET_STATUS = `${PRELUDE}
local uid, st = ARGV[2], ARGV[3]
if st == 'online' then redis.call('DEL', pfx .. 'presence:c:' .. uid)
else redis.call('SET', pfx .. 'presence:c:' .. uid, st) end
local changes = {}
settle(uid, changes)
return changes
`;

/** ARGV: prefix, limit. */
const SWEEP = `${PRELUDE}
local changes = {}
for _, uid in ipairs(redis.call('ZRANGEBYSCORE', pfx .. 'presence:live', '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))) do
  settle(uid, changes)
end
return changes
`;

type RawChange = [string, string, number];

interface PresenceCommands {
  presenceConnect(...args: (string | number)[]): Promise<[RawChange[], string[]]>;
  presenceRefresh(...args: (string | number)[]): Promise<[RawChange[], string[]]>;
  presenceDisconnect(...args: (string | number)[]): Promise<RawChange[]>;
  presenceEndLost(...args: (string | number)[]): Promise<RawChange[]>;
  presenceSetStatus(...args: (string | number)[]): Promise<RawChange[]>;
  presenceSweep(...args: (string | number)[]): Promise<RawChange[]>;
}

/** Sessions per refresh script: one call holds Redis for a bounded time. */
const REFRESH_BATCH = 500;

export class RedisPresenceStore implements PresencePort {
  private readonly redis: Redis & PresenceCommands;

  constructor(
    redis: Redis,
    private readonly prefix: string,
  ) {
    for (const [name, lua] of [
      ['presenceConnect', CONNECT],
      ['presenceRefresh', REFRESH],
      ['presenceDisconnect', DISCONNECT],
      ['presenceEndLost', END_LOST],
      ['presenceSetStatus', SET_STATUS],
      ['presenceSweep', SWEEP],
    ] as const)
      if (!(name in redis)) redis.defineCommand(name, { numberOfKeys: 0, lua });
    this.redis = redis as Redis & PresenceCommands;
  }

  async connect(s: PresenceSession, ttlMs: number, maxSessions: number): Promise<PresenceUpdate> {
    const [changes, evicted] = await this.redis.presenceConnect(
      this.prefix,
      s.userId,
      s.sessionId,
      s.startedAt,
      ttlMs,
      maxSessions,
    );
    return { changes: changes.map(toChange), evicted };
  }

  async refresh(sessions: PresenceSession[], ttlMs: number): Promise<PresenceUpdate> {
    const out: PresenceUpdate = { changes: [], evicted: [] };
    for (let i = 0; i < sessions.length; i += REFRESH_BATCH) {
      const args: (string | number)[] = [this.prefix, ttlMs];
      for (const s of sessions.slice(i, i + REFRESH_BATCH)) args.push(s.userId, s.sessionId, s.startedAt);
      const [changes, evicted] = await this.redis.presenceRefresh(...args);
      out.changes.push(...changes.map(toChange));
      out.evicted.push(...evicted);
    }
    return out;
  }

  async disconnect(userId: string, sessionId: string, graceMs: number): Promise<PresenceChange | undefined> {
    return (await this.redis.presenceDisconnect(this.prefix, userId, sessionId, graceMs)).map(toChange)[0];
  }

  async endLost(userId: string, sessionId: string): Promise<PresenceChange | undefined> {
    return (await this.redis.presenceEndLost(this.prefix, userId, sessionId)).map(toChange)[0];
  }

  async setStatus(userId: string, status: ChosenStatus): Promise<PresenceChange | undefined> {
    return (await this.redis.presenceSetStatus(this.prefix, userId, status)).map(toChange)[0];
  }

  async sweep(limit: number): Promise<PresenceChange[]> {
    return (await this.redis.presenceSweep(this.prefix, limit)).map(toChange);
  }

  async statuses(userIds: string[]): Promise<Map<string, PresenceStatus>> {
    const out = new Map<string, PresenceStatus>();
    if (userIds.length === 0) return out;
    const values = await this.redis.mget(...userIds.map((id) => `presence:a:${id}`));
    userIds.forEach((id, i) => out.set(id, (values[i] as PresenceStatus | null) ?? 'offline'));
    return out;
  }
}

function toChange([userId, status, version]: RawChange): PresenceChange {
  return { userId, status: status as PresenceStatus, version: Number(version) };
}
