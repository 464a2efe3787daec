import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { dispatchFrame, RedisSessionStore } from '@cariosan/gateway';
import { testServices } from '../support/env';

const describeWithRedis = testServices.redisUrl ? describe : describe.skip;

describeWithRedis('RedisSessionStore', () => {
  const prefix = `cariosan-store-${randomBytes(4).toString('hex')}:`;
  let redis: Redis;
  let store: RedisSessionStore;

  beforeAll(() => {
    redis = new Redis(testServices.redisUrl!, { keyPrefix: prefix, enableAutoPipelining: true });
    store = new RedisSessionStore(redis, 60_000);
  });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys.map((k) => k.slice(prefix.length)));
    await redis.quit();
  });

  const frame = (seq: number, eventId: string, dataJson: string) => ({
    seq,
    eventId,
    type: 'MESSAGE_CREATE',
    dataJson,
    frame: dispatchFrame('MESSAGE_CREATE', seq, dataJson),
  });

  it('stores an event fanned out to many sessions once, and replays each session its exact frames', async () => {
    const sessions = ['s1', 's2', 's3'];
    for (const s of sessions) await store.create(s, 'u1', 'hash', `owner-${s}`);
    const ready = {
      seq: 1,
      eventId: '',
      type: 'READY',
      dataJson: '{}',
      frame: dispatchFrame('READY', 1, '{}'),
    };
    await Promise.all(sessions.map((s) => store.append(s, `owner-${s}`, ready)));
    const big = JSON.stringify({ id: 'm1', content: 'x'.repeat(2000) });
    // One tick, like a fanout: all three appends go out in one call.
    const owned = await Promise.all(sessions.map((s) => store.append(s, `owner-${s}`, frame(2, '901', big))));
    expect(owned).toEqual([true, true, true]);

    expect(await redis.keys(`${prefix}gw:event:*`)).toEqual([`${prefix}gw:event:901`]);
    for (const s of sessions) {
      const entries = await redis.lrange(`gw:session:${s}`, 0, -1);
      expect(entries[1]).toBe('2 901 MESSAGE_CREATE');
      const replay = await store.framesAfter(s, 0);
      expect(replay?.frames.map((f) => f.frame)).toEqual([
        ready.frame,
        dispatchFrame('MESSAGE_CREATE', 2, big),
      ]);
      expect(replay?.eventIds).toEqual(['901']);
    }
  });

  it('refuses an append from a replaced owner, and a replay whose payload is gone', async () => {
    await store.create('s9', 'u1', 'hash', 'old');
    await store.claim('s9', 'u1', 'hash', 'new');
    expect(await store.append('s9', 'old', frame(1, '902', '{}'))).toBe(false);
    expect(await store.append('s9', 'new', frame(1, '903', '{"a":1}'))).toBe(true);
    expect((await store.framesAfter('s9', 0))?.frames).toHaveLength(1);
    await redis.del('gw:event:903');
    expect(await store.framesAfter('s9', 0)).toBeUndefined();
    // Nothing to replay after the last frame: the payload is not needed.
    expect(await store.framesAfter('s9', 1)).toEqual({ frames: [], eventIds: ['903'] });
  });
});
