import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { RedisBus } from '@cariosan/core';
import { testServices } from '../support/env';

const describeWithRedis = testServices.redisUrl ? describe : describe.skip;

const until = async (cond: () => boolean, timeoutMs = 5000) => {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describeWithRedis('RedisBus', () => {
  const prefix = `cariosan-bus-${randomBytes(4).toString('hex')}:`;
  let a: RedisBus;
  let b: RedisBus;
  let admin: Redis;

  beforeAll(() => {
    a = new RedisBus(testServices.redisUrl!, prefix);
    b = new RedisBus(testServices.redisUrl!, prefix);
    admin = new Redis(testServices.redisUrl!);
  });
  afterAll(async () => {
    await Promise.all([a.onApplicationShutdown(), b.onApplicationShutdown(), admin.quit()]);
  });

  it('delivers between instances under the prefix, and subscribes only topics with listeners (ref-counted)', async () => {
    const got: string[] = [];
    const l1 = (m: string) => got.push(`1:${m}`);
    const l2 = (m: string) => got.push(`2:${m}`);
    await b.subscribe('channel:1', l1);
    await b.subscribe('channel:1', l2);
    expect(await admin.pubsub('NUMSUB', `${prefix}channel:1`)).toEqual([`${prefix}channel:1`, 1]);
    await a.publish('channel:1', 'hi');
    await until(() => got.length === 2);
    expect(got.sort()).toEqual(['1:hi', '2:hi']);

    await b.unsubscribe('channel:1', l1);
    expect(b.subscribedTopics()).toEqual(['channel:1']);
    await b.unsubscribe('channel:1', l2);
    expect(b.subscribedTopics()).toEqual([]);
    expect(await admin.pubsub('NUMSUB', `${prefix}channel:1`)).toEqual([`${prefix}channel:1`, 0]);
  });

  it('re-subscribes every topic after the subscriber connection is killed', async () => {
    const got: string[] = [];
    await b.subscribe('user:7', (m) => got.push(m));
    await admin.client('KILL', 'TYPE', 'pubsub');
    // Keep publishing until the reconnected subscriber hears it.
    const deadline = Date.now() + 8000;
    while (got.length === 0 && Date.now() < deadline) {
      await a.publish('user:7', 'after-reconnect').catch(() => undefined);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(got).toContain('after-reconnect');
  });

  it('rejects a publish while Redis is unreachable instead of hanging', async () => {
    const dead = new RedisBus('redis://127.0.0.1:1', prefix);
    const started = Date.now();
    await expect(dead.publish('channel:1', 'x')).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(3000);
    await dead.onApplicationShutdown();
  });
});
