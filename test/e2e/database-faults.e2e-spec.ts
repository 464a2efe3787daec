import { Client } from 'pg';
import { Api, ApiResponse, expectError, registerUser, TestUser } from '../support/api';
import { createChannel } from '../support/chat';
import { describeWithCluster } from '../support/describe';
import { testServices } from '../support/env';
import { startStack, TestStack } from '../support/server';
import { eventually } from '../support/wait';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Counts answers by status; a request that got no answer at all counts as 0. */
class Statuses {
  readonly counts = new Map<number, number>();
  readonly samples = new Map<number, string>();

  record(res: ApiResponse | undefined, what: string): void {
    const status = res?.status ?? 0;
    this.counts.set(status, (this.counts.get(status) ?? 0) + 1);
    if (!this.samples.has(status)) this.samples.set(status, `${what}: ${res?.text ?? 'no answer'}`);
  }

  /** Statuses other than 2xx and 503, with a sample answer each. */
  unexpected(): string[] {
    return [...this.counts.keys()]
      .filter((s) => !(s >= 200 && s < 300) && s !== 503)
      .map((s) => `${s} x${this.counts.get(s)}: ${this.samples.get(s)}`);
  }
}

describeWithCluster('Postgres faults across three replicas', () => {
  let stack: TestStack;
  let apis: Api[];
  let admin: Client;
  let db: Client;
  let dbName: string;
  let users: TestUser[];
  let channelId: string;

  beforeAll(async () => {
    // A short lock timeout keeps the lock test quick; the pools are the harness' (5 per replica).
    stack = await startStack(3, { env: { CARIOS_DATABASE_LOCK_TIMEOUT_MS: '1000' } });
    apis = stack.servers.map((s) => new Api(s.url));
    dbName = new URL(stack.env.CARIOS_DATABASE_URL!).pathname.slice(1);
    admin = new Client({ connectionString: testServices.databaseUrl });
    await admin.connect();
    db = new Client({ connectionString: stack.env.CARIOS_DATABASE_URL });
    await db.connect();
    users = await Promise.all(Array.from({ length: 12 }, (_, i) => registerUser(apis[i % 3]!)));
    channelId = (await createChannel(users[0]!, 'public')).id;
    await Promise.all(users.slice(1).map((u) => u.api.put(`/api/v1/channels/${channelId}/members/@me`)));
  });

  afterAll(async () => {
    await db.end();
    await admin.end();
    await stack.close();
  });

  /** Terminates every backend of this suite's database except the test's own connections. */
  async function terminateBackends(): Promise<number> {
    const { rows } = await admin.query<{ n: number }>(
      `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
        WHERE datname = $1 AND pid <> pg_backend_pid() AND application_name = 'cariosan'`,
      [dbName],
    );
    return rows[0]!.n;
  }

  it('survives a storm of terminated backends under load: every replica keeps serving, only 2xx and 503, each acknowledged post stored once', async () => {
    const statuses = new Statuses();
    const acknowledged = new Map<string, string>(); // nonce -> message id
    let stop = false;
    const base = `/api/v1/channels/${channelId}/messages`;

    const load = users.map(async (user, i) => {
      for (let n = 0; !stop; n++) {
        const api = apis[(i + n) % 3]!.as(user.token);
        const nonce = `storm-${i}-${n}`;
        // A post answered 503 is retried with its nonce (on another replica) until it is acknowledged.
        for (let attempt = 0; ; attempt++) {
          const res = await apis[(i + n + attempt) % 3]!.as(user.token)
            .post(base, { content: `storm ${i} ${n}`, nonce })
            .catch(() => undefined);
          statuses.record(res, 'POST messages');
          if (res && (res.status === 201 || res.status === 200)) {
            expect(acknowledged.get(nonce) ?? res.body.id).toBe(res.body.id);
            acknowledged.set(nonce, res.body.id);
            break;
          }
          if (res?.status !== 503) break;
          await sleep(20);
        }
        statuses.record(await api.get(`${base}?limit=20`).catch(() => undefined), 'GET messages');
        statuses.record(await api.get('/api/v1/users/@me').catch(() => undefined), 'GET @me');
      }
    });

    // Every 100 ms for 3 s: terminate the replicas' connections.
    let terminated = 0;
    const started = Date.now();
    while (Date.now() - started < 3000) {
      terminated += await terminateBackends();
      await sleep(100);
    }
    stop = true;
    await Promise.all(load);

    expect(terminated).toBeGreaterThan(0);
    expect(statuses.unexpected()).toEqual([]);
    // Each replica is alive and serves again by itself: reads and writes.
    for (const [i, server] of stack.servers.entries()) {
      expect(server.proc.exitCode).toBeNull();
      expect(server.proc.signalCode).toBeNull();
      await eventually(
        async () => (await apis[i]!.as(users[i]!.token).get('/api/v1/users/@me')).status === 200,
        `@me on replica ${i}`,
      );
      await eventually(
        async () =>
          (await apis[i]!.as(users[i]!.token).post(base, { content: `after the storm ${i}` })).status === 201,
        `a post on replica ${i}`,
      );
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    }
    // Exactly once: one message per acknowledged nonce, the one the answer named.
    const { rows } = await db.query<{ nonce: string; ids: string[] }>(
      `SELECT nonce, array_agg(id::text) AS ids FROM messages WHERE channel_id = $1 AND nonce LIKE 'storm-%' GROUP BY nonce`,
      [channelId],
    );
    const stored = new Map(rows.map((r) => [r.nonce, r.ids]));
    expect(acknowledged.size).toBeGreaterThan(0);
    for (const [nonce, id] of acknowledged) expect(stored.get(nonce)).toEqual([id]);
    // Nothing unacknowledged slipped in twice either.
    expect(rows.every((r) => r.ids.length === 1)).toBe(true);
    // The logs stay JSON and carry no token hash or statement parameter.
    for (const server of stack.servers) {
      for (const line of server.output().split('\n').filter(Boolean)) {
        expect(() => JSON.parse(line)).not.toThrow();
      }
      expect(server.output()).not.toMatch(/PARAMETERS|[0-9a-f]{64}/i);
    }
  });

  it('a channel whose lock is held from outside answers its posts 503 within the lock timeout, while other routes answer 2xx', async () => {
    const stuck = (await createChannel(users[0]!, 'public')).id;
    const other = (await createChannel(users[1]!, 'public')).id;
    await Promise.all(
      users
        .slice(2)
        .flatMap((u) => [
          u.api.put(`/api/v1/channels/${stuck}/members/@me`),
          u.api.put(`/api/v1/channels/${other}/members/@me`),
        ]),
    );
    const holder = new Client({ connectionString: stack.env.CARIOS_DATABASE_URL });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT id FROM channels WHERE id = $1 FOR UPDATE', [stuck]);
      let lockHeld = true;

      const stuckPosts = Promise.all(
        Array.from({ length: 25 }, (_, i) =>
          apis[i % 3]!.as(users[2 + (i % 10)]!.token)
            .post(`/api/v1/channels/${stuck}/messages`, { content: `into the stuck channel ${i}` })
            .then((res) => ({ res, whileHeld: lockHeld })),
        ),
      );
      let stuckDone = false;
      void stuckPosts.then(() => (stuckDone = true));

      // Meanwhile, everything else keeps working on every replica.
      const others = new Statuses();
      const deadline = Date.now() + 30_000;
      for (let round = 0; !stuckDone; round++) {
        if (Date.now() > deadline) throw new Error('posts to the stuck channel never answered');
        if (round > 0) await sleep(20);
        const u = users[2 + (round % 10)]!;
        const api = apis[round % 3]!.as(u.token);
        const [me, posted] = await Promise.all([
          api.get('/api/v1/users/@me'),
          api.post(`/api/v1/channels/${other}/messages`, { content: `elsewhere ${round}` }),
        ]);
        others.record(me, 'GET @me');
        others.record(posted, 'POST to another channel');
        expect(me.status).toBe(200);
        expect(posted.status).toBe(201);
      }

      const answers = await stuckPosts;
      for (const { res, whileHeld } of answers) {
        expectError(res, 503, 'unavailable');
        expect(res.headers.get('retry-after')).toBe('1');
        // They gave up by themselves: answered while the lock was still held.
        expect(whileHeld).toBe(true);
      }
      lockHeld = false;
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
    // Released: the channel takes posts again, and none of the refused ones was stored.
    const after = await apis[0]!.as(users[2]!.token).post(`/api/v1/channels/${stuck}/messages`, {
      content: 'unstuck',
    });
    expect(after.status).toBe(201);
    const { rows } = await db.query('SELECT content FROM messages WHERE channel_id = $1', [stuck]);
    expect(rows.map((r) => r.content)).toEqual(['unstuck']);
  });
});
