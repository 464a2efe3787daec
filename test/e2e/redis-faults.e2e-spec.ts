import { Api, ApiResponse, registerUser, TestUser, username } from '../support/api';
import { createChannel, postMessage } from '../support/chat';
import { describeWithPostgres } from '../support/describe';
import { OwnRedis, startOwnRedis } from '../support/redis-server';
import { startStack, TestStack } from '../support/server';
import { eventually } from '../support/wait';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const THUMBS = encodeURIComponent('👍');

/** One request of every route, as `user` on `api`; returns [route, answer] pairs. */
async function everyRoute(api: Api, user: TestUser, channelId: string, round: number) {
  const as = api.as(user.token);
  const ch = `/api/v1/channels/${channelId}`;
  const out: [string, ApiResponse | undefined][] = [];
  const call = async (route: string, p: Promise<ApiResponse>) => {
    const res = await p.catch(() => undefined);
    out.push([route, res]);
    return res;
  };
  await call(
    'POST /auth/register',
    api.post('/api/v1/auth/register', { username: username('r'), password: 'password123' }),
  );
  await call(
    'POST /auth/login',
    api.post('/api/v1/auth/login', { username: user.username, password: 'password123' }),
  );
  await call('GET /users/@me', as.get('/api/v1/users/@me'));
  await call('PATCH /users/@me', as.patch('/api/v1/users/@me', { displayName: `round ${round}` }));
  await call('GET /users/:id', as.get(`/api/v1/users/${user.id}`));
  await call('POST /channels', as.post('/api/v1/channels', { name: `outage-${round}`, kind: 'public' }));
  await call('GET /channels', as.get('/api/v1/channels'));
  await call('GET /channels/browse', as.get('/api/v1/channels/browse'));
  await call('GET /channels/:id', as.get(ch));
  await call('PATCH /channels/:id', as.patch(ch, { topic: `round ${round}` }));
  await call('GET /channels/:id/members', as.get(`${ch}/members`));
  await call('PUT /channels/:id/members/@me', as.put(`${ch}/members/@me`));
  const posted = await call(
    'POST /messages',
    as.post(`${ch}/messages`, { content: `during ${round}`, nonce: `o-${round}` }),
  );
  await call('GET /messages', as.get(`${ch}/messages?limit=10`));
  const mid = posted?.body?.id as string | undefined;
  if (mid) {
    await call('GET /messages/:mid', as.get(`${ch}/messages/${mid}`));
    await call('PATCH /messages/:mid', as.patch(`${ch}/messages/${mid}`, { content: `edited ${round}` }));
    await call('GET /messages/:mid/replies', as.get(`${ch}/messages/${mid}/replies`));
    await call('PUT reactions', as.put(`${ch}/messages/${mid}/reactions/${THUMBS}/@me`));
    await call('DELETE reactions', as.delete(`${ch}/messages/${mid}/reactions/${THUMBS}/@me`));
    await call('PUT /channels/:id/read', as.put(`${ch}/read`, { messageId: mid }));
    await call('DELETE /messages/:mid', as.delete(`${ch}/messages/${mid}`));
  }
  await call('POST /channels/:id/typing', as.post(`${ch}/typing`));
  await call('POST /dms', as.post('/api/v1/dms', { userIds: [user.id] }));
  await call('GET /healthz', api.get('/healthz'));
  await call('GET /readyz', api.get('/readyz'));
  await call('GET /metrics', api.get('/metrics'));
  return out;
}

describeWithPostgres('Redis faults across three replicas (an own redis-server)', () => {
  let redis: OwnRedis;
  let stack: TestStack;
  let apis: Api[];
  let users: TestUser[];
  let channelId: string;

  beforeAll(async () => {
    redis = await startOwnRedis();
    stack = await startStack(3, {
      redis: false,
      env: {
        CARIOS_REDIS_URL: redis.url,
        CARIOS_REDIS_PREFIX: 'faults:',
        // Hundreds of requests from one address over the outage: rate limits are not what this
        // suite tests (with Redis down each replica counts on its own, and a 429 would hide a 500).
        CARIOS_RATE_LIMIT_REQUESTS: '1000000',
        CARIOS_RATE_LIMIT_ANONYMOUS: '1000000',
      },
    });
    apis = stack.servers.map((s) => new Api(s.url));
    users = await Promise.all(Array.from({ length: 3 }, (_, i) => registerUser(apis[i]!)));
    channelId = (await createChannel(users[0]!, 'public')).id;
    for (const u of users.slice(1)) await u.api.put(`/api/v1/channels/${channelId}/members/@me`);
  });

  afterAll(async () => {
    await stack?.close();
    await redis?.stop();
  });

  /** Every replica knows the token (it is in each replica's token cache). */
  async function warm(token: string): Promise<void> {
    for (const api of apis)
      for (let i = 0; i < 2; i++) expect((await api.as(token).get('/api/v1/users/@me')).status).toBe(200);
  }

  it('refuses a logged-out token on every replica from the logout answer on, with the bus message dropped', async () => {
    // Publishing is refused by this Redis from now on: no bus message of any kind goes out.
    expect(redis.cli('ACL', 'SETUSER', 'default', '-publish').trim()).toBe('OK');
    try {
      expect(redis.cli('PUBLISH', 'faults:auth.token-revoked', 'x')).toMatch(/NOPERM/);
      for (let round = 0; round < 6; round++) {
        const user = users[round % 3]!;
        const login = await apis[round % 3]!.post('/api/v1/auth/login', {
          username: user.username,
          password: 'password123',
        });
        const token = login.body.token as string;
        await warm(token);
        const out = await apis[round % 3]!.as(token).post('/api/v1/auth/logout');
        expect(out.status).toBe(204);
        // Requests that start after the logout's answer, on every replica, first the others.
        for (const i of [1, 2, 0].map((k) => (k + round) % 3)) {
          const res = await apis[i]!.as(token).get('/api/v1/users/@me');
          expect({ replica: i, status: res.status }).toEqual({ replica: i, status: 401 });
        }
        // The user's other tokens are untouched.
        expect((await apis[(round + 1) % 3]!.as(user.token).get('/api/v1/users/@me')).status).toBe(200);
      }
    } finally {
      redis.cli('ACL', 'SETUSER', 'default', '+publish');
    }
  });

  it('answers no 500 on any route while Redis is stopped for 30 s, refuses revoked tokens meanwhile, and recovers by itself', async () => {
    // The channel's owner: every route of the catalogue is theirs to call.
    const survivor = users[0]!;
    // Logged out before the outage: its revocation mark is lost with Redis, the database still knows.
    const login = await apis[0]!.post('/api/v1/auth/login', {
      username: survivor.username,
      password: 'password123',
    });
    const revoked = login.body.token as string;
    await warm(revoked);
    expect((await apis[0]!.as(revoked).post('/api/v1/auth/logout')).status).toBe(204);
    await warm(survivor.token);

    await redis.stop();
    const seen = new Map<string, Set<number>>();
    const bad: string[] = [];
    const started = Date.now();
    for (let round = 0; Date.now() - started < 30_000; round++) {
      const i = round % 3;
      for (const [route, res] of await everyRoute(apis[i]!, survivor, channelId, round)) {
        const status = res?.status ?? 0;
        if (!seen.has(route)) seen.set(route, new Set());
        seen.get(route)!.add(status);
        if (status === 0 || (status >= 500 && status !== 503))
          bad.push(`${route} on ${i}: ${status} ${res?.text ?? ''}`);
      }
      const refused = await apis[i]!.as(revoked).get('/api/v1/users/@me');
      if (refused.status !== 401) bad.push(`revoked token on ${i}: ${refused.status}`);
      const logout = await apis[i]!.as(survivor.token).post('/api/v1/auth/logout');
      if (logout.status !== 503) bad.push(`logout without Redis on ${i}: ${logout.status}`);
      await sleep(200);
    }
    expect(bad).toEqual([]);
    // The outage was real: what needs Redis said 503, and the rest kept working.
    expect([...seen.get('GET /readyz')!]).toEqual([503]);
    expect([...seen.get('POST /channels/:id/typing')!]).toEqual([503]);
    expect(seen.get('POST /messages')!.has(201)).toBe(true);
    expect(seen.get('GET /messages')!.has(200)).toBe(true);
    for (const server of stack.servers) expect(server.proc.exitCode).toBeNull();

    await redis.start();
    for (const [i, api] of apis.entries()) {
      await eventually(async () => (await api.get('/readyz')).status === 200, `readiness of replica ${i}`);
      await eventually(
        async () =>
          (await api.as(survivor.token).post(`/api/v1/channels/${channelId}/typing`)).status === 204,
        `typing on replica ${i}`,
      );
      expect(
        (await postMessage({ ...survivor, api: api.as(survivor.token) }, channelId, `back ${i}`)).id,
      ).toEqual(expect.any(String));
    }
    // Every replica answers every route without a 503 again.
    for (const [i, api] of apis.entries()) {
      for (const [route, res] of await everyRoute(api, survivor, channelId, 1000 + i)) {
        expect({ route, status: res?.status }).toEqual({ route, status: expect.any(Number) });
        expect({ route, ok: res!.status < 300 }).toEqual({ route, ok: true });
      }
    }
    expect((await apis[2]!.as(survivor.token).post('/api/v1/auth/logout')).status).toBe(204);
    for (const api of apis) expect((await api.as(survivor.token).get('/api/v1/users/@me')).status).toBe(401);
  });
});
