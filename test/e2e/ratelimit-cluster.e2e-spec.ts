import { Api, ApiResponse, expectError, registerUser, TestUser, username } from '../support/api';
import { describeWithCluster, describeWithPostgres } from '../support/describe';
import { OwnRedis, startOwnRedis } from '../support/redis-server';
import { startStack, TestStack } from '../support/server';
import { eventually } from '../support/wait';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const LOGIN = '/api/v1/auth/login';
/** Every spelling of the login route a client could send. */
const LOGIN_SPELLINGS = [
  LOGIN,
  `${LOGIN}/`,
  LOGIN.toUpperCase(),
  `/${LOGIN}`,
  '/api/v1//auth/login',
  '/api/v1/auth/%6C%6Fgin',
  `${LOGIN}?next=/home`,
];

function rateHeaders(res: ApiResponse) {
  return {
    limit: Number(res.headers.get('ratelimit-limit')),
    remaining: Number(res.headers.get('ratelimit-remaining')),
    reset: Number(res.headers.get('ratelimit-reset')),
  };
}

/** A login attempt with a wrong password, from `ip` (X-Forwarded-For) on `api`. */
function wrongLogin(api: Api, name: string, ip?: string, path = LOGIN) {
  return api.request(
    'POST',
    path,
    { username: name, password: 'not-the-password' },
    { headers: ip ? { 'x-forwarded-for': ip } : {} },
  );
}

describeWithCluster('rate limits on three replicas sharing Redis', () => {
  describe('a 10 per second user limit under 1,000 concurrent requests', () => {
    let stack: TestStack;
    let apis: Api[];
    let user: TestUser;

    beforeAll(async () => {
      stack = await startStack(3, {
        env: {
          CARIOS_RATE_LIMIT_REQUESTS: '10',
          CARIOS_RATE_LIMIT_WINDOW_SECONDS: '1',
          CARIOS_RATE_LIMIT_ANONYMOUS: '1000000',
        },
      });
      apis = stack.servers.map((s) => new Api(s.url));
      user = await registerUser(apis[0]!);
    });
    afterAll(() => stack.close());

    it('admits at most the limit + 1 per window, spread over the replicas', async () => {
      // Every replica has the token cached (as in steady traffic); then a fresh window.
      for (const api of apis) expect((await api.as(user.token).get('/api/v1/users/@me')).status).toBe(200);
      await sleep(1100);
      const limit = 10;
      const started = Date.now();
      const answers = await Promise.all(
        Array.from({ length: 1000 }, (_, i) => apis[i % 3]!.as(user.token).get('/api/v1/users/@me')),
      );
      const elapsed = Date.now() - started;
      // 503 only if Postgres is too slow for the few admitted requests on a loaded machine.
      const unexpected = answers.filter((a) => ![200, 429, 503].includes(a.status));
      expect(unexpected.map((a) => `${a.status} ${a.text}`)).toEqual([]);
      expect(answers.filter((a) => a.status === 429).length).toBeGreaterThan(0);
      // Admitted by the limiter: everything it did not refuse.
      const admitted = answers.filter((a) => a.status !== 429);
      // A window's first request is always admitted and sees limit - 1 left: that counts the
      // windows the burst used, at most one per second it lasted (+1 for a window it straddled).
      const remaining = admitted.map((a) => rateHeaders(a).remaining);
      const windows = remaining.filter((r) => r === limit - 1).length;
      expect(windows).toBeGreaterThanOrEqual(1);
      expect(windows).toBeLessThanOrEqual(Math.floor(elapsed / 1000) + 1);
      expect(admitted.length).toBeLessThanOrEqual((limit + 1) * windows);
      // Within one window every admitted request saw a different count left (atomic counting).
      for (let r = 0; r < limit; r++)
        expect(remaining.filter((x) => x === r).length).toBeLessThanOrEqual(windows);
      for (const refused of answers.filter((a) => a.status === 429).slice(0, 20)) {
        expectError(refused, 429, 'rate_limited');
        expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
        expect(rateHeaders(refused)).toMatchObject({ limit, remaining: 0 });
      }
    });
  });

  describe('anonymous, login and refused-before-routing buckets', () => {
    let stack: TestStack;
    /** Three replicas behind one trusted proxy hop: X-Forwarded-For stands for the client's IP. */
    let proxied: Api[];
    /** A fourth replica trusting no proxy: X-Forwarded-For must change nothing there. */
    let direct: Api;

    beforeAll(async () => {
      stack = await startStack(3, {
        env: {
          CARIOS_TRUST_PROXY_HOPS: '1',
          CARIOS_RATE_LIMIT_ANONYMOUS: '100',
          CARIOS_RATE_LIMIT_LOGIN: '3',
          CARIOS_RATE_LIMIT_LOGIN_ACCOUNT: '6',
          CARIOS_RATE_LIMIT_WINDOW_SECONDS: '120',
        },
      });
      proxied = stack.servers.map((s) => new Api(s.url));
      // Its own Redis prefix: it spends 127.0.0.1's budget, which the other tests register users from.
      direct = new Api(
        (
          await stack.start({
            CARIOS_TRUST_PROXY_HOPS: '0',
            CARIOS_REDIS_PREFIX: `${stack.env.CARIOS_REDIS_PREFIX}direct:`,
          })
        ).url,
      );
    });
    afterAll(() => stack.close());

    it('does not let a forged X-Forwarded-For escape the IP bucket when no proxy is trusted', async () => {
      // Uses up 127.0.0.1's anonymous budget on the replica that trusts no proxy, each request
      // claiming another client address.
      const answers: ApiResponse[] = [];
      for (let i = 0; i < 105; i++) {
        answers.push(
          await direct.request('GET', '/api/v1/users/@me', undefined, {
            headers: { 'x-forwarded-for': `198.18.${i >> 8}.${i & 255}` },
          }),
        );
      }
      expect(answers.slice(0, 100).every((a) => a.status === 401)).toBe(true);
      expect(answers.slice(100).map((a) => a.status)).toEqual([429, 429, 429, 429, 429]);
      expect(rateHeaders(answers[99]!)).toMatchObject({ limit: 100, remaining: 0 });
      // A proxied replica reads the header, so there each forged address is a bucket of its own:
      // the check above is not vacuous.
      const viaProxy = await proxied[0]!.request('GET', '/api/v1/users/@me', undefined, {
        headers: { 'x-forwarded-for': '198.18.200.1' },
      });
      expect(viaProxy.status).toBe(401);
      expect(rateHeaders(viaProxy).remaining).toBe(99);
    });

    it('counts every spelling of the login path in the same buckets', async () => {
      for (const order of [LOGIN_SPELLINGS, [...LOGIN_SPELLINGS].reverse()]) {
        const name = username('spell');
        const ip = `192.0.2.${order === LOGIN_SPELLINGS ? 1 : 2}`;
        const statuses: [string, number, number][] = [];
        // Two rounds over every spelling, spread over the replicas.
        for (let i = 0; i < order.length * 2; i++) {
          const path = order[i % order.length]!;
          const res = await wrongLogin(proxied[i % 3]!, name, ip, path);
          statuses.push([path, res.status, rateHeaders(res).limit]);
        }
        // The first three attempts (whatever their spelling) reached the handler; none after.
        expect(statuses.map(([, s]) => s)).toEqual([401, 401, 401, ...Array(order.length * 2 - 3).fill(429)]);
        // Every spelling was refused at least once, and reported a login bucket (IP + username: 3;
        // from the 7th attempt on, the username's own bucket, 6, refuses as well).
        for (const path of order) expect(statuses.some(([p, s]) => p === path && s === 429)).toBe(true);
        expect(statuses.filter(([, , limit]) => limit !== 3 && limit !== 6)).toEqual([]);
      }
    });

    it('cuts off brute force on one username across replicas and across IPs', async () => {
      const victim = await registerUser(proxied[0]!);
      // One IP, three replicas: the IP + username bucket (3) is shared.
      const fromOne: number[] = [];
      for (let i = 0; i < 4; i++)
        fromOne.push((await wrongLogin(proxied[i % 3]!, victim.username, '192.0.2.10')).status);
      expect(fromOne).toEqual([401, 401, 401, 429]);
      // A botnet: every attempt from another IP, on every replica. The username bucket (6) holds.
      const spray: number[] = [];
      for (let i = 0; i < 12; i++) {
        spray.push((await wrongLogin(proxied[i % 3]!, victim.username, `203.0.113.${i + 1}`)).status);
      }
      // 4 attempts already counted for the account above (the refused one too): 2 more reach the
      // handler, then none.
      expect(spray).toEqual([401, 401, ...Array(10).fill(429)]);
      // Spelled in upper case, from yet another IP: still the same account bucket.
      const shouted = await proxied[1]!.request(
        'POST',
        LOGIN,
        { username: victim.username.toUpperCase(), password: 'password123' },
        { headers: { 'x-forwarded-for': '203.0.113.200' } },
      );
      expectError(shouted, 429, 'rate_limited');
      // Other accounts are not affected, from the same IPs.
      const other = await registerUser(proxied[2]!);
      const ok = await proxied[2]!.request(
        'POST',
        LOGIN,
        { username: other.username, password: 'password123' },
        { headers: { 'x-forwarded-for': '203.0.113.1' } },
      );
      expect(ok.status).toBe(200);
    });

    it('counts 100 malformed-JSON requests against the IP, with headers, until the IP is refused', async () => {
      const ip = { 'x-forwarded-for': '192.0.2.50' };
      const remaining: number[] = [];
      for (let i = 0; i < 100; i++) {
        const res = await proxied[i % 3]!.request('POST', '/api/v1/auth/register', undefined, {
          headers: ip,
          raw: '{"username": "x", ',
        });
        expectError(res, 400, 'invalid_json');
        remaining.push(rateHeaders(res).remaining);
      }
      expect(remaining).toEqual(Array.from({ length: 100 }, (_, i) => 99 - i));
      // The budget is spent: a well-formed registration from that IP is refused before any work.
      const refused = await proxied[0]!.request(
        'POST',
        '/api/v1/auth/register',
        { username: username(), password: 'password123' },
        { headers: ip },
      );
      expectError(refused, 429, 'rate_limited');
      // So is more garbage: it is answered 429 now.
      const more = await proxied[1]!.request('POST', '/api/v1/auth/register', undefined, {
        headers: ip,
        raw: '{',
      });
      expectError(more, 429, 'rate_limited');
      // Another IP registers fine.
      const fine = await proxied[2]!.request(
        'POST',
        '/api/v1/auth/register',
        { username: username(), password: 'password123' },
        { headers: { 'x-forwarded-for': '192.0.2.51' } },
      );
      expect(fine.status).toBe(201);
    });

    it('counts every other answer refused before routing, and unknown routes, with headers', async () => {
      const ip = { 'x-forwarded-for': '192.0.2.60' };
      const cases: [string, () => Promise<ApiResponse>, number][] = [
        [
          '413',
          () =>
            proxied[0]!.request('POST', '/api/v1/auth/register', undefined, {
              headers: ip,
              raw: JSON.stringify({ username: 'x'.repeat(300_000) }),
            }),
          413,
        ],
        [
          '415',
          () =>
            proxied[1]!.request('POST', '/api/v1/auth/register', undefined, {
              headers: { ...ip, 'content-type': 'text/plain' },
              raw: 'hello',
            }),
          415,
        ],
        [
          'bad %-encoding',
          () => proxied[2]!.request('GET', '/api/v1/users/%E0%A4%A', undefined, { headers: ip }),
          400,
        ],
        [
          'bad Unicode',
          () =>
            proxied[0]!.request('POST', '/api/v1/auth/register', undefined, {
              headers: ip,
              raw: Buffer.from([0x7b, 0xff, 0x7d]),
            }),
          400,
        ],
        [
          'unknown route',
          () => proxied[1]!.request('GET', '/api/v1/no-such-route', undefined, { headers: ip }),
          404,
        ],
        [
          'OpenAPI document',
          () => proxied[2]!.request('GET', '/api/v1/openapi.json', undefined, { headers: ip }),
          200,
        ],
      ];
      let expected = 99;
      for (const [what, send, status] of cases) {
        const res = await send();
        expect({ what, status: res.status }).toEqual({ what, status });
        expect({ what, ...rateHeaders(res) }).toEqual({
          what,
          limit: 100,
          remaining: expected--,
          reset: expect.any(Number),
        });
      }
      // Made-up tokens are counted against the IP before they are looked up.
      const fake = await proxied[0]!.request('GET', '/api/v1/users/@me', undefined, {
        headers: { ...ip, authorization: `Bearer cst_${'A'.repeat(43)}` },
      });
      expect(fake.status).toBe(401);
      expect(rateHeaders(fake)).toMatchObject({ limit: 100, remaining: expected });
      // Probes are not limited.
      for (const path of ['/healthz', '/readyz', '/metrics']) {
        expect((await proxied[0]!.get(path)).headers.get('ratelimit-limit')).toBeNull();
      }
    });
  });
});

describeWithPostgres('rate limits while Redis is down (an own redis-server)', () => {
  let redis: OwnRedis;
  let stack: TestStack;
  let apis: Api[];
  let user: TestUser;

  beforeAll(async () => {
    redis = await startOwnRedis();
    stack = await startStack(3, {
      redis: false,
      env: {
        CARIOS_REDIS_URL: redis.url,
        CARIOS_REDIS_PREFIX: 'rl-outage:',
        CARIOS_RATE_LIMIT_REQUESTS: '20',
        CARIOS_RATE_LIMIT_LOGIN: '5',
      },
    });
    apis = stack.servers.map((s) => new Api(s.url));
    user = await registerUser(apis[0]!);
  });
  afterAll(async () => {
    await stack?.close();
    await redis?.stop();
  });

  it('refuses logins with 503, limits the rest per replica, never answers 500, and shares counts again within 5 s of Redis returning', async () => {
    expect((await apis[1]!.post(LOGIN, { username: user.username, password: 'password123' })).status).toBe(
      200,
    );
    expect(redis.cli('KEYS', 'rl-outage:rl:*')).toMatch(/rl-outage:rl:login:/);

    await redis.stop();
    for (const [i, api] of apis.entries()) {
      await eventually(async () => (await api.get('/readyz')).status === 503, `readiness of replica ${i}`);
      // Login: fail closed.
      const login = await api.post(LOGIN, { username: user.username, password: 'password123' });
      expectError(login, 503, 'unavailable');
      expect(login.headers.get('retry-after')).toBe('1');
      expect(login.headers.get('ratelimit-limit')).not.toBeNull();
      // Garbage is still counted and answered in shape.
      const garbage = await api.request('POST', '/api/v1/auth/register', undefined, { raw: '{' });
      expectError(garbage, 400, 'invalid_json');
      expect(garbage.headers.get('ratelimit-limit')).not.toBeNull();
    }
    // Authenticated routes work, limited by each replica on its own (20 here).
    const statuses: number[] = [];
    for (let i = 0; i < 21; i++)
      statuses.push((await apis[2]!.as(user.token).get('/api/v1/users/@me')).status);
    expect(statuses).toEqual([...Array(20).fill(200), 429]);
    expect((await apis[0]!.as(user.token).get('/api/v1/users/@me')).status).toBe(200);
    for (const s of stack.servers) expect(s.proc.exitCode).toBeNull();

    await redis.start();
    const back = Date.now();
    for (const [i, api] of apis.entries()) {
      await eventually(
        async () =>
          (await api.post(LOGIN, { username: user.username, password: 'password123' })).status === 200,
        `login on replica ${i}`,
        Math.max(1, 5000 - (Date.now() - back)),
      );
    }
    // The counts are shared again: one IP + username, three replicas, one bucket of 5.
    const name = username('after');
    const attempts: number[] = [];
    for (let i = 0; i < 6; i++) attempts.push((await wrongLogin(apis[i % 3]!, name)).status);
    expect(attempts).toEqual([401, 401, 401, 401, 401, 429]);
  });
});
