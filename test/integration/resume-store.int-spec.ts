import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import {
  type Checkpoint,
  InProcessResumeStore,
  RedisResumeStore,
  type ResumeStorePort,
} from '@cariosan/gateway';
import { testServices } from '../support/env';
import { startOwnRedis } from '../support/redis-server';

const describeWithRedis = testServices.redisUrl ? describe : describe.skip;

/** Counts of each command Redis ran, from INFO commandstats. */
async function commandCalls(redis: Redis): Promise<Map<string, number>> {
  const info = await redis.info('commandstats');
  const out = new Map<string, number>();
  for (const m of info.matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)) out.set(m[1]!, Number(m[2]));
  return out;
}

const checkpoint = (
  sessionId: string,
  owner: string,
  s: number,
  more: Partial<Checkpoint> = {},
): Checkpoint => ({
  sessionId,
  owner,
  s,
  entry: { from: s, items: [['10', s + 3, 1]] },
  positions: new Map([['10', s + 3]]),
  dropped: [],
  touch: false,
  released: false,
  ...more,
});

async function keepsSessions(store: ResumeStorePort): Promise<void> {
  await store.create({
    sessionId: 'a',
    userId: 'u1',
    tokenHash: 'h1',
    owner: 'o1',
    s: 1,
    positions: new Map([
      ['10', 4],
      ['11', 7],
    ]),
    entry: { from: 1, items: [['Y']] },
  });
  expect(await store.flush([checkpoint('a', 'o1', 2), checkpoint('b', 'o1', 2)])).toEqual(['ok', 'missing']);
  expect(await store.flush([checkpoint('a', 'o1', 3, { dropped: ['11'], released: true })])).toEqual(['ok']);
  expect(await store.peek('a')).toEqual({ userId: 'u1', released: true });
  expect(await store.claim('a', { userId: 'u2', tokenHash: 'h', owner: 'o2' })).toBeUndefined();
  const claimed = await store.claim('a', { userId: 'u1', tokenHash: 'h2', owner: 'o2' });
  expect(claimed).toMatchObject({ userId: 'u1', tokenHash: 'h2', released: true, s: 3 });
  expect(claimed!.positions).toEqual(new Map([['10', 6]]));
  expect(claimed!.log).toEqual([
    { from: 1, items: [['Y']] },
    { from: 2, items: [['10', 5, 1]] },
    { from: 3, items: [['10', 6, 1]] },
  ]);
  expect(await store.peek('a')).toEqual({ userId: 'u1', released: false });
  expect(await store.flush([checkpoint('a', 'o1', 4)])).toEqual(['lost']);
  await store.destroy('a');
  expect(await store.peek('a')).toBeUndefined();
}

it('in process: keeps positions and the log, refuses a replaced owner, says when it lost a session', () =>
  keepsSessions(new InProcessResumeStore(60_000)));

describeWithRedis('RedisResumeStore', () => {
  const prefix = `cariosan-resume-${randomBytes(4).toString('hex')}:`;
  let redis: Redis;
  let store: RedisResumeStore;

  beforeAll(() => {
    redis = new Redis(testServices.redisUrl!, { keyPrefix: prefix, enableAutoPipelining: true });
    store = new RedisResumeStore(redis, 60_000);
  });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys.map((k) => k.slice(prefix.length)));
    await redis.quit();
  });

  it('keeps positions and the log, refuses a replaced owner, says when it lost a session', () =>
    keepsSessions(store));

  it('flushes 100 sessions with one call of 3 commands each', async () => {
    // Its own redis-server: nobody else's commands in the counts.
    const own = await startOwnRedis();
    const client = new Redis(own.url);
    const store = new RedisResumeStore(client, 60_000);
    try {
      await countedFlush(client, store);
    } finally {
      client.disconnect();
      await own.stop();
    }
  });

  async function countedFlush(redis: Redis, store: RedisResumeStore): Promise<void> {
    const ids = Array.from({ length: 100 }, (_, i) => `many-${i}`);
    for (const id of ids)
      await store.create({
        sessionId: id,
        userId: 'u',
        tokenHash: 'h',
        owner: 'o',
        s: 1,
        positions: new Map(),
        entry: undefined,
      });
    const before = await commandCalls(redis);
    expect(await store.flush(ids.map((id) => checkpoint(id, 'o', 2)))).toEqual(ids.map(() => 'ok'));
    const after = await commandCalls(redis);
    const delta = (name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0);
    expect(delta('hget')).toBe(100);
    expect(delta('hset')).toBe(100);
    expect(delta('rpush')).toBe(100);
    expect(delta('pexpire')).toBe(0);
  }
});
