import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Api, expectError, registerUser } from '../support/api';
import { testServices } from '../support/env';
import { ServerProcess, startServer, startStack, TestStack } from '../support/server';

/** Health, readiness, metrics, OpenAPI and request ids: what operators and their tools rely on. */
describe('operations', () => {
  let stack: TestStack;
  let api: Api;

  beforeAll(async () => {
    stack = await startStack(1);
    api = new Api(stack.servers[0]!.url);
  });
  afterAll(() => stack.close());

  it('answers /healthz with {"status":"ok"} and the running version', async () => {
    const res = await api.get('/healthz');
    expect(res.status).toBe(200);
    const { version } = JSON.parse(readFileSync(resolve(__dirname, '../../package.json'), 'utf8')) as {
      version: string;
    };
    expect(res.body).toEqual({
      status: 'ok',
      version,
      commit: expect.stringMatching(/^([0-9a-f]{7,40}(-dirty)?|unknown)$/),
    });
  });

  it('exports the version as cariosan_build_info, the same as /healthz', async () => {
    const { version, commit } = (await api.get('/healthz')).body as { version: string; commit: string };
    const metrics = (await api.get('/metrics')).text;
    expect(metrics).toContain('# TYPE cariosan_build_info gauge');
    expect(metrics).toMatch(
      new RegExp(
        `^cariosan_build_info\\{version="${version.replace(/\./g, '\\.')}",commit="${commit}",node="v\\d+\\.\\d+\\.\\d+"\\} 1$`,
        'm',
      ),
    );
  });

  it('answers /readyz 200 with every configured dependency up', async () => {
    const res = await api.get('/readyz');
    expect(res.status).toBe(200);
    expect(res.body.details.database).toEqual({ status: 'up' });
    if (testServices.redisUrl) expect(res.body.details.redis).toEqual({ status: 'up' });
    else expect(res.body.details.redis).toBeUndefined();
  });

  it('exports request durations by route pattern and the Node default metrics', async () => {
    const u = await registerUser(api);
    expect((await u.api.get(`/api/v1/users/${u.id}`)).status).toBe(200);
    const res = await api.get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(res.text).toMatch(
      /cariosan_http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/users\/:id",status="200"\} \d+/,
    );
    expect(res.text).toMatch(
      /cariosan_http_request_duration_seconds_bucket\{le="[\d.]+",method="POST",route="\/api\/v1\/auth\/register",status="201"\}/,
    );
    // The raw id never becomes a label value.
    expect(res.text).not.toContain(u.id);
    expect(res.text).toContain('process_resident_memory_bytes');
    expect(res.text).toContain('nodejs_eventloop_lag_seconds');
  });

  it('serves the OpenAPI 3 document and the Swagger UI', async () => {
    const doc = await api.get('/api/v1/openapi.json');
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.body.paths)).toEqual(
      expect.arrayContaining(['/api/v1/auth/register', '/api/v1/users/@me', '/api/v1/users/{id}']),
    );
    // Operations routes are documented too (see api-reference.e2e-spec.ts for the whole check).
    expect(doc.body.paths['/healthz'].get.security).toEqual([]);
    const ui = await api.get('/api/docs');
    expect(ui.status).toBe(200);
    expect(ui.headers.get('content-type')).toMatch(/^text\/html/);
    expect(ui.text).toMatch(/swagger/i);
  });

  it('echoes a sane X-Request-Id and generates one otherwise', async () => {
    const given = await api.request('GET', '/api/v1/users/@me', undefined, {
      headers: { 'x-request-id': 'trace-abc.123' },
    });
    expect(given.headers.get('x-request-id')).toBe('trace-abc.123');
    const generated = await api.get('/healthz');
    expect(generated.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const other = await api.get('/healthz');
    expect(other.headers.get('x-request-id')).not.toBe(generated.headers.get('x-request-id'));
    // Not echoed when it could inject into logs.
    const hostile = await api.request('GET', '/healthz', undefined, { headers: { 'x-request-id': 'a b"c' } });
    expect(hostile.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('readiness with Redis unreachable', () => {
  let stack: TestStack;
  let server: ServerProcess;
  let api: Api;

  beforeAll(async () => {
    // The stack gives a database (and data dir); this server points Redis at a closed port.
    stack = await startStack(0, { redis: false });
    server = await startServer({
      waitReady: false,
      env: {
        ...stack.env,
        CARIOS_REDIS_URL: 'redis://127.0.0.1:1',
        CARIOS_REDIS_PREFIX: 'cariosan-test-closed:',
      },
    });
    api = new Api(server.url);
    const deadline = Date.now() + 20_000;
    for (;;) {
      const up = await api.get('/healthz').catch(() => undefined);
      if (up?.status === 200) break;
      if (server.proc.exitCode !== null || Date.now() > deadline)
        throw new Error(`server did not start:\n${server.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });
  afterAll(async () => {
    await server?.stop('SIGKILL');
    await stack?.close();
  });

  it('answers /readyz 503 naming redis, /healthz 200, REST auth still works, login and logout answer 503', async () => {
    const ready = await api.get('/readyz');
    expectError(ready, 503, 'unavailable');
    expect(ready.body.error.message).toMatch(/redis/);
    expect(ready.body.error.details).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ check: 'redis', status: 'down' }),
        expect.objectContaining({ check: 'database', status: 'up' }),
      ]),
    );
    expect((await api.get('/healthz')).status).toBe(200);

    const u = await registerUser(api);
    expect((await u.api.get('/api/v1/users/@me')).body.username).toBe(u.username);
    // Login's rate-limit buckets must be shared by every replica: without Redis it is refused
    // rather than counted per replica (docs/api.md, "Rate limits").
    const login = await api.post('/api/v1/auth/login', { username: u.username, password: 'password123' });
    expectError(login, 503, 'unavailable');
    expect(login.headers.get('retry-after')).toBe('1');
    // Logout records the revocation in Redis for every replica's token cache first: without
    // Redis it cannot, so it changes nothing and says so (503), and the token keeps working.
    const out = await u.api.post('/api/v1/auth/logout');
    expectError(out, 503, 'unavailable');
    expect(out.headers.get('retry-after')).toBe('1');
    expect((await u.api.get('/api/v1/users/@me')).status).toBe(200);
  });
});
