import { Api, expectError, registerUser, TestUser, username } from '../support/api';
import { createChannel } from '../support/chat';
import { describeWithCluster } from '../support/describe';
import { startStack, TestStack } from '../support/server';

const LIMITS = {
  CARIOS_RATE_LIMIT_REQUESTS: '8',
  CARIOS_RATE_LIMIT_ANONYMOUS: '8',
  CARIOS_RATE_LIMIT_LOGIN: '3',
  CARIOS_RATE_LIMIT_WINDOW_SECONDS: '60',
};

describe('rate limits on one replica without Redis (counted in memory)', () => {
  let stack: TestStack;
  let api: Api;

  beforeAll(async () => {
    stack = await startStack(1, { env: LIMITS, redis: false });
    api = new Api(stack.servers[0]!.url);
  });
  afterAll(() => stack.close());

  it('puts RateLimit headers on every /api/v1 response, errors included, and none on /healthz', async () => {
    const res = await api.get('/api/v1/users/@me');
    expect(res.status).toBe(401);
    expect(res.headers.get('ratelimit-limit')).toBe('8');
    expect(Number(res.headers.get('ratelimit-remaining'))).toBeLessThan(8);
    expect(Number(res.headers.get('ratelimit-reset'))).toBeGreaterThan(0);
    expect((await api.get('/healthz')).headers.get('ratelimit-limit')).toBeNull();
  });

  it('limits a user by their own bucket and answers 429 in the contract shape with Retry-After', async () => {
    const [a, b] = [await registerUser(api), await registerUser(api)];
    const responses = [];
    for (let i = 0; i < 9; i++) responses.push(await a.api.get('/api/v1/users/@me'));
    expect(responses.slice(0, 8).map((r) => r.status)).toEqual(Array(8).fill(200));
    const refused = responses[8]!;
    expectError(refused, 429, 'rate_limited');
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(refused.body.error.details).toEqual([{ retryAfter }]);
    // Another user has a bucket of their own.
    expect((await b.api.get('/api/v1/users/@me')).status).toBe(200);
  });
});

describe('the post bucket (per user and channel)', () => {
  let stack: TestStack;
  let api: Api;

  beforeAll(async () => {
    stack = await startStack(1, { env: { CARIOS_RATE_LIMIT_POSTS: '3' } });
    api = new Api(stack.servers[0]!.url);
  });
  afterAll(() => stack.close());

  it('limits posts per user and channel, beside the user bucket', async () => {
    const [a, b] = [await registerUser(api), await registerUser(api)];
    const [one, two] = [await createChannel(a, 'public'), await createChannel(a, 'public')];
    const post = (u: TestUser, channelId: string, i: number) =>
      u.api.post(`/api/v1/channels/${channelId}/messages`, { content: `m${i}` });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await post(a, one.id, i)).status);
    expect(statuses).toEqual([201, 201, 201, 429]);
    // Another channel, and another user in the same channel, have buckets of their own.
    expect((await post(a, two.id, 9)).status).toBe(201);
    expect((await b.api.put(`/api/v1/channels/${one.id}/members/@me`)).status).toBe(204);
    const other = await post(b, one.id, 10);
    expect(other.status).toBe(201);
    expect(other.headers.get('ratelimit-limit')).toBe('3');
    expect(other.headers.get('ratelimit-remaining')).toBe('2');
    // Other routes of that user are not limited by it.
    expect((await a.api.get(`/api/v1/channels/${one.id}/messages`)).status).toBe(200);
  });
});

describeWithCluster('rate limits shared by replicas through Redis', () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await startStack(2, { env: LIMITS });
  });
  afterAll(() => stack.close());

  it('counts login attempts for one username across both replicas', async () => {
    const [s1, s2] = stack.servers.map((s) => new Api(s.url));
    const name = username();
    const attempt = (api: Api) =>
      api.post('/api/v1/auth/login', { username: name, password: 'not-the-password' });
    expect((await attempt(s1!)).status).toBe(401);
    expect((await attempt(s2!)).status).toBe(401);
    expect((await attempt(s1!)).status).toBe(401);
    expectError(await attempt(s2!), 429, 'rate_limited');
    // Another username from the same IP is not locked out by that.
    expect(
      (await s1!.post('/api/v1/auth/login', { username: username(), password: 'not-the-password' })).status,
    ).toBe(401);
  });
});
