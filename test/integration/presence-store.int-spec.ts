import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { RedisPresenceStore } from '@cariosan/presence';
import { testServices } from '../support/env';

const describeWithRedis = testServices.redisUrl ? describe : describe.skip;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The Redis store's scripts on a real Redis (its clock decides expiry, so the waits are real). */
describeWithRedis('RedisPresenceStore', () => {
  const prefix = `cariosan-presence-${randomBytes(4).toString('hex')}:`;
  let redis: Redis;
  let other: Redis;
  let a: RedisPresenceStore;
  let b: RedisPresenceStore;
  const s = (userId: string, sessionId: string, startedAt = Date.now()) => ({ userId, sessionId, startedAt });

  beforeAll(() => {
    redis = new Redis(testServices.redisUrl!, { keyPrefix: prefix });
    other = new Redis(testServices.redisUrl!, { keyPrefix: prefix });
    a = new RedisPresenceStore(redis, prefix);
    b = new RedisPresenceStore(other, prefix);
  });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys.map((k) => k.slice(prefix.length)));
    await Promise.all([redis.quit(), other.quit()]);
  });

  it('online once for sessions on two replicas, offline once after the last', async () => {
    expect((await a.connect(s('u1', 'x'), 10_000, 16)).changes.map((c) => c.status)).toEqual(['online']);
    expect((await b.connect(s('u1', 'y'), 10_000, 16)).changes).toEqual([]);
    expect(await a.disconnect('u1', 'x', 0)).toBeUndefined();
    expect((await b.statuses(['u1', 'nobody'])).get('u1')).toBe('online');
    expect((await b.disconnect('u1', 'y', 0))?.status).toBe('offline');
    expect((await a.statuses(['u1', 'nobody'])).get('nobody')).toBe('offline');
  });

  it('an expired holder is swept offline by exactly one of many sweeping replicas', async () => {
    await a.connect(s('u2', 'x'), 150, 16);
    await sleep(250);
    const swept = await Promise.all([a.sweep(100), b.sweep(100), a.sweep(100), b.sweep(100)]);
    expect(
      swept
        .flat()
        .filter((c) => c.userId === 'u2')
        .map((c) => c.status),
    ).toEqual(['offline']);
  });

  it('refresh keeps a session, a grace ends it, the chosen status is followed and kept', async () => {
    await a.setStatus('u3', 'dnd');
    expect((await a.connect(s('u3', 'x'), 300, 16)).changes.map((c) => c.status)).toEqual(['dnd']);
    for (let i = 0; i < 3; i++) {
      await sleep(150);
      await a.refresh([s('u3', 'x')], 300);
    }
    expect(await b.sweep(100)).toEqual([]);
    expect((await a.setStatus('u3', 'idle'))?.status).toBe('idle');
    expect(await a.disconnect('u3', 'x', 100)).toBeUndefined();
    await sleep(200);
    expect((await b.sweep(100)).map((c) => [c.userId, c.status])).toEqual([['u3', 'offline']]);
  });

  it('versions grow across replicas', async () => {
    const on = (await a.connect(s('u4', 'x'), 10_000, 16)).changes[0]!;
    const off = (await b.disconnect('u4', 'x', 0))!;
    expect(off.version).toBeGreaterThan(on.version);
    expect(on.version).toBeGreaterThanOrEqual(Date.now() - 60_000);
  });

  it('evicts the oldest over the cap, and its refresh reports it instead of re-adding it', async () => {
    const t = Date.now();
    await a.connect(s('u5', 'old', t - 10), 10_000, 2);
    await b.connect(s('u5', 'mid', t - 5), 10_000, 2);
    expect((await b.connect(s('u5', 'new', t), 10_000, 2)).evicted).toEqual(['old']);
    expect((await a.refresh([s('u5', 'old')], 10_000)).evicted).toEqual(['old']);
    expect(await redis.zrange('presence:s:u5', 0, -1)).toEqual(expect.arrayContaining(['mid', 'new']));
    expect(await redis.zcard('presence:s:u5')).toBe(2);
  });

  it('over the cap, a session in its reconnect grace goes before any live one', async () => {
    const t = Date.now();
    await a.connect(s('u6', 'live', t - 10), 10_000, 2);
    await a.connect(s('u6', 'closing', t - 5), 10_000, 2);
    await a.disconnect('u6', 'closing', 5000);
    expect((await b.connect(s('u6', 'new', t), 10_000, 2)).evicted).toEqual(['closing']);
  });

  it('a lost end says offline only when the store forgot the user and nothing of theirs lives', async () => {
    // The store still knows: the ordinary end (offline once), and nothing more once it was said.
    await a.connect(s('u9', 'x'), 10_000, 16);
    expect((await b.endLost('u9', 'x'))?.status).toBe('offline');
    expect(await b.endLost('u9', 'x')).toBeUndefined();
    // Another session still lives: nothing to say.
    await a.connect(s('u10', 'x'), 10_000, 16);
    await a.connect(s('u10', 'y'), 10_000, 16);
    expect(await b.endLost('u10', 'x')).toBeUndefined();
    expect((await a.statuses(['u10'])).get('u10')).toBe('online');
    // Redis restarted empty: the announced status is gone with everything else; offline is said anyway.
    await a.connect(s('u11', 'x'), 10_000, 16);
    const keys = await redis.keys(`${prefix}presence:*u11`);
    await redis.del(...keys.map((k) => k.slice(prefix.length)));
    expect((await b.endLost('u11', 'x'))?.status).toBe('offline');
  });
});
