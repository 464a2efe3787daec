import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { SCHEMA } from '@cariosan/migrations';
import { Api, username } from '../support/api';
import { describeWithPostgres } from '../support/describe';
import { startServer, startStack, TestStack } from '../support/server';

/** Names TypeORM records for the migrations in migrations/index.ts (an instance's `name`, else the class name). */
function migrationNames(): string[] {
  const list = Array.isArray(SCHEMA.migrations) ? SCHEMA.migrations : Object.values(SCHEMA.migrations);
  return list.map((m) => {
    if (typeof m === 'string') throw new Error('migrations are listed as classes in migrations/index.ts');
    const ctor = m as new () => { name?: string };
    return new ctor().name ?? ctor.name;
  });
}

/** Runs the server until it exits by itself; resolves with its exit code and output. */
async function runToExit(
  env: Record<string, string>,
  timeoutMs = 40_000,
): Promise<{ code: number | null; output: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'cariosan-boot-'));
  const server = await startServer({ waitReady: false, env: { CARIOS_DATA_DIR: dataDir, ...env } });
  const timer = setTimeout(() => server.proc.kill('SIGKILL'), timeoutMs);
  try {
    const code = await server.exited;
    return { code, output: server.output() };
  } finally {
    clearTimeout(timer);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

describe('boot configuration', () => {
  it.each([
    ['CARIOS_PORT', 'abc'],
    ['CARIOS_PORT', '70000'],
    ['CARIOS_DATABASE_URL', 'notaurl'],
    ['CARIOS_DATABASE_URL', 'mysql://root@localhost/db'],
    ['CARIOS_REDIS_URL', 'http://localhost:6379'],
    ['CARIOS_WEBHOOK_RETRY_SCHEDULE', '5x'],
    ['CARIOS_WEBHOOK_DISABLE_AFTER', 'forever'],
    ['CARIOS_MIGRATE_ON_BOOT', 'maybe'],
    ['CARIOS_LOG_LEVEL', 'loud'],
    ['CARIOS_TRUST_PROXY_HOPS', '-1'],
  ])('exits non-zero with one line naming %s when it is %p', async (variable, value) => {
    const { code, output } = await runToExit({ [variable]: value });
    expect(code).not.toBe(0);
    expect(code).not.toBeNull();
    const lines = output.split('\n').filter((l) => l.trim() !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(variable);
  });

  it('never prints the database password, even in a URL it refuses', async () => {
    const { code, output } = await runToExit({
      CARIOS_DATABASE_URL: 'postgres://cariosan:Hunter2Secret@ho st/db',
    });
    expect(code).not.toBe(0);
    expect(output).toContain('CARIOS_DATABASE_URL');
    expect(output).not.toContain('Hunter2Secret');
  });

  it('never prints the S3 secret key when another variable is wrong', async () => {
    const { code, output } = await runToExit({
      CARIOS_S3_BUCKET: 'chat-files',
      CARIOS_S3_ACCESS_KEY: 'AKIAEXAMPLE',
      CARIOS_S3_SECRET_KEY: 'S3SecretKeyNeverPrinted',
      CARIOS_S3_REGION: 'Not A Region',
    });
    expect(code).not.toBe(0);
    expect(output).toContain('CARIOS_S3_REGION');
    expect(output).not.toContain('S3SecretKeyNeverPrinted');
  });

  it('never prints secrets when the database cannot be reached, and exits non-zero', async () => {
    const { code, output } = await runToExit(
      {
        CARIOS_LOG_LEVEL: 'debug',
        CARIOS_DATABASE_URL: 'postgres://cariosan:Hunter2Secret@127.0.0.1:1/cariosan',
        CARIOS_S3_BUCKET: 'chat-files',
        CARIOS_S3_ACCESS_KEY: 'AKIAEXAMPLE',
        CARIOS_S3_SECRET_KEY: 'S3SecretKeyNeverPrinted',
      },
      55_000,
    );
    expect(code).not.toBe(0);
    expect(code).not.toBeNull(); // exited by itself, not killed by the timeout
    expect(output).toMatch(/ECONNREFUSED|connect/);
    expect(output).not.toContain('Hunter2Secret');
    expect(output).not.toContain('S3SecretKeyNeverPrinted');
  }, 60_000);
});

describeWithPostgres('boot on Postgres', () => {
  it('migrates once when three replicas start at the same moment on an empty database', async () => {
    const stack = await startStack(3, { env: { CARIOS_LOG_LEVEL: 'info' } });
    try {
      const names = migrationNames();
      expect(names.length).toBeGreaterThan(0);
      for (const s of stack.servers) expect((await new Api(s.url).get('/readyz')).status).toBe(200);

      const db = new Client({ connectionString: stack.env.CARIOS_DATABASE_URL });
      await db.connect();
      try {
        const rows = (await db.query<{ name: string }>('SELECT name FROM migrations ORDER BY id')).rows.map(
          (r) => r.name,
        );
        expect(rows).toEqual(names);
        expect(new Set(rows).size).toBe(rows.length);
      } finally {
        await db.end();
      }

      // Each migration is named by the "migrations applied" line of exactly one process.
      const applied = stack.servers.map((s) => {
        const line = s
          .output()
          .split('\n')
          .map((l) => (l.trim() ? ((JSON.parse(l) as { msg?: string }).msg ?? '') : ''))
          .find((msg) => msg.startsWith('migrations applied: '));
        return line ? line.slice('migrations applied: '.length).split(', ') : [];
      });
      for (const name of names) {
        expect({ name, processes: applied.filter((list) => list.includes(name)).length }).toEqual({
          name,
          processes: 1,
        });
      }

      // All three serve the same data.
      const reg = await new Api(stack.servers[0]!.url).post('/api/v1/auth/register', {
        username: username(),
        password: 'password123',
      });
      expect(reg.status).toBe(201);
      const other = new Api(stack.servers[2]!.url).as(reg.body.token as string);
      expect((await other.get('/api/v1/users/@me')).body.id).toBe(reg.body.user.id);
    } finally {
      await stack.close();
    }
  });

  it('with CARIOS_MIGRATE_ON_BOOT=false on an empty database: starts, warns, and is not ready', async () => {
    const stack = await startStack(0);
    try {
      const server = await stack.start({ CARIOS_MIGRATE_ON_BOOT: 'false' }, { waitReady: false });
      const api = new Api(server.url);
      const deadline = Date.now() + 20_000;
      while ((await api.get('/healthz').catch(() => undefined))?.status !== 200) {
        if (server.proc.exitCode !== null || Date.now() > deadline)
          throw new Error(`did not start:\n${server.output()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(server.output()).toContain('pending migrations are not applied: CARIOS_MIGRATE_ON_BOOT=false');

      // Readiness names the missing schema, so a load balancer never routes to this replica.
      const ready = await api.get('/readyz');
      expect(ready.status).toBe(503);
      expect(ready.body.error).toEqual({
        code: 'unavailable',
        message: expect.stringMatching(/schema/),
        details: expect.any(Array),
      });
      expect(ready.body.error.details).toEqual(
        expect.arrayContaining([expect.objectContaining({ check: 'schema', status: 'down' })]),
      );
      // Routes that need the missing tables fail (in the error shape, logged as server errors).
      const reg = await api.post('/api/v1/auth/register', { username: username(), password: 'password123' });
      expect(reg.status).toBe(500);
      expect(reg.body.error.code).toBe('internal_error');

      // A replica that does migrate makes the first one ready without a restart.
      await stack.start();
      expect((await api.get('/readyz')).status).toBe(200);
    } finally {
      await stack.close();
    }
  });
});

describe('graceful shutdown', () => {
  let stack: TestStack;
  afterAll(() => stack?.close());

  it('finishes in-flight registrations, stops being ready and exits 0 within 10 s', async () => {
    stack = await startStack(1);
    const server = stack.servers[0]!;
    const api = new Api(server.url);
    // allSettled: a rejection must fail the assertion below, not escape as an unhandled error.
    const inFlight = Promise.allSettled(
      Array.from({ length: 20 }, () =>
        api.post('/api/v1/auth/register', { username: username('g'), password: 'password123' }),
      ),
    );
    // Let the requests reach the server (each spends ~50 ms in Argon2), then signal.
    await new Promise((r) => setTimeout(r, 30));
    const signalledAt = Date.now();
    server.proc.kill('SIGTERM');

    // A probe already queued may still be answered before the signal is handled, so poll
    // briefly: readiness must turn (503, or the listener closed) well before the exit.
    let ready: number | string = 200;
    while (ready === 200 && Date.now() - signalledAt < 2000) {
      ready = await api.get('/readyz').then(
        (r) => r.status,
        () => 'refused',
      );
      if (ready === 200) await new Promise((r) => setTimeout(r, 10));
    }
    expect([503, 'refused']).toContain(ready);

    const results = await inFlight;
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value.status : String(r.reason)))).toEqual(
      Array(20).fill(201),
    );

    const code = await server.exited;
    expect(code).toBe(0);
    expect(Date.now() - signalledAt).toBeLessThan(10_000);
  });
});
