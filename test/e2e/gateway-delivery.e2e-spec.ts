import { createHash } from 'node:crypto';
import { Client } from 'pg';
import { Api, ApiResponse, registerUser, TestUser } from '../support/api';
import { createChannel, inBatches } from '../support/chat';
import { describeWithCluster } from '../support/describe';
import { expectContiguous, Frame, GatewayClient } from '../support/gateway-client';
import { busConnectionsOf } from '../support/redis-clients';
import { OwnRedis, startOwnRedis } from '../support/redis-server';
import { ServerProcess, startStack, TestStack } from '../support/server';
import { eventually } from '../support/wait';

/**
 * Issue 8's "Done when": delivery through three server processes on real Postgres and Redis
 * stays exact (nobody outside a channel sees its events, nobody inside misses one) whatever
 * happens to the bus, Redis or a replica. Expectations come from the committed order (the
 * outbox, by channel seq), never from timing; every wait has a deadline.
 */

const GATEWAY_ENV = {
  CARIOS_GATEWAY_HEARTBEAT_MS: '10000',
  // These tests post thousands of messages as a few users.
  CARIOS_RATE_LIMIT_REQUESTS: '1000000',
  CARIOS_RATE_LIMIT_POSTS: '1000000',
  // 20 sessions per user, opened 25 at a time from one address.
  CARIOS_GATEWAY_MAX_SESSIONS_PER_USER: '1000',
  CARIOS_GATEWAY_MAX_UNIDENTIFIED_PER_IP: '1000',
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rand = () => Math.random().toString(36).slice(2, 10);

/** Polls `check` every 25 ms until it holds, failing with `what` after the deadline. */
async function until(check: () => boolean, what: string | (() => string), timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await sleep(25);
  }
}

async function expectStatus(p: Promise<ApiResponse>, status: number, what: string): Promise<ApiResponse> {
  const res = await p;
  if (res.status !== status) throw new Error(`${what}: ${res.status} ${res.text}`);
  return res;
}

const onReplica = (user: TestUser, api: Api) => api.as(user.token);

async function post(user: TestUser, channelId: string, content: string, api: Api): Promise<string> {
  const res = await expectStatus(
    onReplica(user, api).post(`/api/v1/channels/${channelId}/messages`, { content }),
    201,
    `post ${content}`,
  );
  return res.body.id as string;
}

const messages = (c: GatewayClient) => c.dispatches('MESSAGE_CREATE');

interface OutboxRow {
  channelId: string;
  seq: number;
  type: string;
  /** `userId` of member events. */
  userId: string | null;
  /** `id` of message events. */
  messageId: string | null;
}

/** The committed events of these channels, in each channel's order. */
async function outboxOf(databaseUrl: string, channelIds: string[]): Promise<OutboxRow[]> {
  const db = new Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    const { rows } = await db.query<OutboxRow>(
      `SELECT channel_id::text AS "channelId", seq::int AS seq, type,
              payload->>'userId' AS "userId", payload->>'id' AS "messageId"
         FROM outbox WHERE channel_id = ANY($1::bigint[]) ORDER BY channel_id, seq`,
      [channelIds],
    );
    return rows;
  } finally {
    await db.end();
  }
}

/** Message ids of `channelId`'s MESSAGE_CREATE events in committed order. */
const committedMessages = (rows: OutboxRow[], channelId: string) =>
  rows.filter((r) => r.channelId === channelId && r.type === 'message.created').map((r) => r.messageId!);

/**
 * MESSAGE_CREATE frames of these channels that `userId` received although they were not a
 * member when the message was committed (membership replayed from the channel's member events).
 */
function leaks(frames: Frame[], rows: OutboxRow[], userId: string): string[] {
  const memberAt = new Map<string, boolean>();
  const member = new Map<string, boolean>();
  for (const r of rows) {
    if (r.type === 'member.joined' && r.userId === userId) member.set(r.channelId, true);
    else if (r.type === 'member.left' && r.userId === userId) member.set(r.channelId, false);
    else if (r.type === 'message.created')
      memberAt.set(`${r.channelId}/${r.messageId}`, member.get(r.channelId) ?? false);
  }
  const channels = new Set(rows.map((r) => r.channelId));
  return frames
    .filter((f) => f.op === 'DISPATCH' && f.t === 'MESSAGE_CREATE' && channels.has(f.d.channelId))
    .filter((f) => memberAt.get(`${f.d.channelId}/${f.d.id}`) !== true)
    .map((f) => `s=${f.s} ${f.d.content as string} in ${f.d.channelId as string}`);
}

/** The channels where `userId` both joined and left, by the committed events. */
function joinedAndLeft(rows: OutboxRow[], userId: string): string[] {
  const of = (type: string) =>
    new Set(rows.filter((r) => r.type === type && r.userId === userId).map((r) => r.channelId));
  const joined = of('member.joined');
  return [...of('member.left')].filter((c) => joined.has(c));
}

/** Posts `content` to `channelId` and waits until every client got it: everything before it was handled. */
async function flush(
  poster: TestUser,
  channelId: string,
  api: Api,
  ...clients: GatewayClient[]
): Promise<void> {
  const marker = `marker ${rand()}`;
  await post(poster, channelId, marker, api);
  for (const c of clients) await c.waitFor((f) => f.t === 'MESSAGE_CREATE' && f.d.content === marker, 20_000);
}

/** Keeps posting (one at a time, so commit order = send order) until `stop()`; ids of the 201s in order. */
function poster(
  user: TestUser,
  channelId: string,
  apis: Api[],
  intervalMs = 0,
): { ids: string[]; failures: string[]; stop: () => Promise<void> } {
  let stopped = false;
  const ids: string[] = [];
  const failures: string[] = [];
  const loop = (async () => {
    for (let i = 0; !stopped; i++) {
      const started = Date.now();
      const res = await onReplica(user, apis[i % apis.length]!)
        .post(`/api/v1/channels/${channelId}/messages`, { content: `p${i}` })
        .catch((err: unknown) => ({ status: 0, text: String(err), body: undefined }) as const);
      if (res.status === 201) ids.push(res.body.id as string);
      else failures.push(`${res.status} ${res.text}`);
      const wait = intervalMs - (Date.now() - started);
      await sleep(Math.max(wait, res.status === 201 ? 0 : 20));
    }
  })();
  return {
    ids,
    failures,
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

async function addMember(owner: TestUser, channelId: string, userId: string, api: Api) {
  return onReplica(owner, api).put(`/api/v1/channels/${channelId}/members/${userId}`);
}

async function removeMember(owner: TestUser, channelId: string, userId: string, api: Api) {
  return onReplica(owner, api).delete(`/api/v1/channels/${channelId}/members/${userId}`);
}

/** A new user on `api`, member of a new public channel of `owner`'s. */
async function userInNewChannel(owner: TestUser, api: Api): Promise<{ user: TestUser; channel: string }> {
  const user = await registerUser(api);
  const channel = (await createChannel(owner, 'public')).id;
  await joinPublic(user, channel, api);
  return { user, channel };
}

async function joinPublic(user: TestUser, channelId: string, api: Api): Promise<void> {
  await expectStatus(onReplica(user, api).put(`/api/v1/channels/${channelId}/members/@me`), 204, 'join');
}

/** How long a replica may take to boot: on a loaded 2-core box three at once took over 30 s. */
const BOOT = { readyTimeoutMs: 120_000 };

/** A stack of three replicas: the first alone (it applies the migrations), then two side by side. */
async function threeReplicas(opts: Parameters<typeof startStack>[1]): Promise<TestStack> {
  const stack = await startStack(0, opts);
  try {
    await stack.start({}, BOOT);
    await Promise.all([stack.start({}, BOOT), stack.start({}, BOOT)]);
  } catch (err) {
    await stack.close();
    throw err;
  }
  return stack;
}

/** One stack of three replicas, with the clients a test opened closed after it. */
function cluster(stackOf: () => Promise<{ stack: TestStack; teardown?: () => Promise<void> }>) {
  const ctx = {
    stack: undefined as unknown as TestStack,
    apis: [] as Api[],
    clients: [] as GatewayClient[],
    teardown: undefined as undefined | (() => Promise<void>),
    connect: async (server: ServerProcess | number, opts?: { heartbeat?: boolean }) => {
      const s = typeof server === 'number' ? ctx.stack.servers[server]! : server;
      const c = await GatewayClient.connect(s.url, opts);
      ctx.clients.push(c);
      return c;
    },
    /** A fresh socket on `server` that sends RESUME; resolves at RESUMED or INVALID_SESSION. */
    resume: async (server: ServerProcess | number, token: string, sessionId: string, seq: number) => {
      const c = await ctx.connect(server);
      c.send({ op: 'RESUME', d: { token, sessionId, seq } });
      await c.waitFor((f) => f.t === 'RESUMED' || f.op === 'INVALID_SESSION', 60_000);
      return c;
    },
  };
  beforeAll(async () => {
    const made = await stackOf();
    ctx.stack = made.stack;
    ctx.teardown = made.teardown;
    ctx.apis = ctx.stack.servers.map((s) => new Api(s.url));
  }, 400_000);
  afterEach(() => {
    for (const c of ctx.clients.splice(0)) c.terminate();
  });
  afterAll(async () => {
    for (const c of ctx.clients.splice(0)) c.terminate();
    await ctx.stack?.close();
    await ctx.teardown?.();
  });
  return ctx;
}

describeWithCluster('gateway delivery across three replicas (Postgres and Redis)', () => {
  const ctx = cluster(async () => ({ stack: await threeReplicas({ env: GATEWAY_ENV }) }));
  let owner: TestUser;

  beforeAll(async () => {
    owner = await registerUser(ctx.apis[0]!);
  });

  async function privateChannel(api: Api): Promise<string> {
    const res = await expectStatus(
      onReplica(owner, api).post('/api/v1/channels', { name: `p-${rand()}`, kind: 'private' }),
      201,
      'create channel',
    );
    return res.body.id as string;
  }

  /**
   * X identified on replica 2; the owner adds X to a private channel through replica 1, removes
   * X through replica 2 and posts "secret" through replica 3 (indices 1, 0, 1, 2 here), 50 times.
   * `gapMs` undefined: each request after the previous answer; else they start that far apart.
   */
  async function addRemovePost(gapMs: number | undefined) {
    const { apis } = ctx;
    const { user: x, channel: lobby } = await userInNewChannel(owner, apis[1]!);
    // X has several devices (sessions) on replica 2: each follows the same joins and leaves.
    const sockets = await Promise.all(Array.from({ length: 8 }, () => ctx.connect(1)));
    for (const c of sockets) await c.identify(x.token);

    const channels: string[] = [];
    // Five owners' sequences run side by side, ten times each: the replicas are busy, as in production.
    await Promise.all(
      Array.from({ length: 5 }, async (_, lane) => {
        for (let i = lane; i < 50; i += 5) {
          const ch = await privateChannel(apis[0]!);
          channels.push(ch);
          if (gapMs === undefined) {
            await expectStatus(addMember(owner, ch, x.id, apis[0]!), 204, 'add');
            await expectStatus(removeMember(owner, ch, x.id, apis[1]!), 204, 'remove');
            await post(owner, ch, `secret ${i}`, apis[2]!);
          } else {
            const added = addMember(owner, ch, x.id, apis[0]!);
            await sleep(gapMs);
            const removed = removeMember(owner, ch, x.id, apis[1]!);
            await sleep(gapMs);
            const posted = post(owner, ch, `secret ${i}`, apis[2]!);
            // The remove may come first and find no member (404): then X stays a member, legitimately.
            await Promise.all([added, removed, posted]);
          }
        }
      }),
    );
    await flush(owner, lobby, apis[2]!, ...sockets);
    const rows = await outboxOf(ctx.stack.env.CARIOS_DATABASE_URL!, channels);
    // The leaver gets its own CHANNEL_MEMBER_REMOVE, the last event of that channel (docs/gateway.md).
    const left = joinedAndLeft(rows, x.id);
    for (const [i, c] of sockets.entries()) {
      await until(
        () =>
          left.every((ch) =>
            c.dispatches('CHANNEL_MEMBER_REMOVE').some((f) => f.d.channelId === ch && f.d.userId === x.id),
          ),
        () => `socket ${i}: X's CHANNEL_MEMBER_REMOVE of ${left.length} channels`,
      );
    }
    const leaked = sockets.flatMap((c, i) => leaks(c.frames, rows, x.id).map((l) => `socket ${i}: ${l}`));
    expect(leaked).toEqual([]);
    for (const c of sockets) {
      expectContiguous(c.frames);
      expect(c.close).toBeUndefined();
    }
    return { rows, x, left };
  }

  it('add, remove, post across three replicas, 50 times in a row: the removed member never gets the secret', async () => {
    const { left } = await addRemovePost(undefined);
    expect(left).toHaveLength(50);
  }, 120_000);

  it('the same with the three requests started 2 ms apart', async () => {
    const { rows, x } = await addRemovePost(2);
    // How many trials committed join, leave, then the secret (the order that used to leak).
    const dangerous = new Set(rows.map((r) => r.channelId));
    for (const ch of [...dangerous]) {
      const order = rows
        .filter((r) => r.channelId === ch && (r.userId === x.id || r.type === 'message.created'))
        .map((r) => r.type);
      if (order.join() !== 'member.joined,member.left,message.created') dangerous.delete(ch);
    }
    expect(dangerous.size).toBeGreaterThan(0);
  }, 120_000);

  it('an IDENTIFY racing the removal of its user never yields an event committed after the removal', async () => {
    const { apis } = ctx;
    const { user: x, channel: lobby } = await userInNewChannel(owner, apis[0]!);
    const channels: string[] = [];
    const sockets: GatewayClient[] = [];
    for (let i = 0; i < 30; i++) {
      const ch = await privateChannel(apis[0]!);
      channels.push(ch);
      await expectStatus(addMember(owner, ch, x.id, apis[0]!), 204, 'add');
      const c = await ctx.connect(i % 3);
      sockets.push(c);
      // The removal goes out from 2 ms before to 6 ms after the IDENTIFY.
      const delay = (i % 5) * 2 - 2;
      const remove = async () => {
        if (delay > 0) await sleep(delay);
        await expectStatus(removeMember(owner, ch, x.id, apis[(i + 1) % 3]!), 204, 'remove');
      };
      const identify = async () => {
        if (delay < 0) await sleep(-delay);
        await c.identify(x.token);
      };
      await Promise.all([remove(), identify()]);
      await post(owner, ch, `after removal ${i}`, apis[(i + 2) % 3]!);
    }
    await flush(owner, lobby, apis[1]!, ...sockets);
    const rows = await outboxOf(ctx.stack.env.CARIOS_DATABASE_URL!, channels);
    const leaked = sockets.flatMap((c, i) => leaks(c.frames, rows, x.id).map((l) => `socket ${i}: ${l}`));
    expect(leaked).toEqual([]);
    for (const c of sockets) expectContiguous(c.frames);
  }, 90_000);

  it("closes a revoked token's sessions on every replica within 1 s (+1.5 s slack) when no bus message comes: token deleted in the database", async () => {
    const { apis } = ctx;
    const { user: y, channel: lobby } = await userInNewChannel(owner, apis[0]!);
    const login = await apis[1]!.post('/api/v1/auth/login', {
      username: y.username,
      password: 'password123',
    });
    const other = login.body.token as string;
    expect(other).toEqual(expect.any(String));
    const doomed = await Promise.all([0, 1, 2].map((i) => ctx.connect(i)));
    for (const c of doomed) await c.identify(y.token);
    const kept = await ctx.connect(2);
    await kept.identify(other);
    await flush(owner, lobby, apis[0]!, ...doomed, kept);

    // Revoked behind the servers' back: no logout, no revocation mark, no bus message.
    const db = new Client({ connectionString: ctx.stack.env.CARIOS_DATABASE_URL });
    await db.connect();
    try {
      const del = await db.query('DELETE FROM auth_tokens WHERE token_hash = $1', [
        createHash('sha256').update(y.token).digest(),
      ]);
      expect(del.rowCount).toBe(1);
    } finally {
      await db.end();
    }
    const revokedAt = Date.now();
    const closes = await Promise.all(
      doomed.map(async (c) => {
        const close = await c.waitClosed(10_000);
        return { code: close.code, withinSlack: Date.now() - revokedAt <= 2500 };
      }),
    );
    expect(closes).toEqual(doomed.map(() => ({ code: 4004, withinSlack: true })));
    // The user's other token keeps its session.
    await flush(owner, lobby, apis[1]!, kept);
    expect(kept.close).toBeUndefined();
  }, 60_000);

  it('a session that misses 3,000 events resumes on another replica and gets all of them in order', async () => {
    const { apis } = ctx;
    const { user: m, channel: busy } = await userInNewChannel(owner, apis[0]!);
    const c = await ctx.connect(0);
    const ready = await c.identify(m.token);
    const seq = c.lastSeq;
    c.end();
    await c.waitClosed();

    // 24 writers through the three replicas: about 10 s here, well inside the scenario's 60 s.
    const writers = Array.from({ length: 24 }, (_, w) => w);
    await Promise.all(
      writers.map(async (w) => {
        for (let i = w; i < 3000; i += writers.length) await post(owner, busy, `busy ${i}`, apis[i % 3]!);
      }),
    );

    const r = await ctx.resume(1, m.token, ready.d.sessionId as string, seq);
    expect(r.frames.some((f) => f.op === 'INVALID_SESSION')).toBe(false);
    const rows = await outboxOf(ctx.stack.env.CARIOS_DATABASE_URL!, [busy]);
    const expected = committedMessages(rows, busy);
    expect(expected).toHaveLength(3000);
    const types = r.dispatches().map((f) => f.t);
    expect(types.slice(0, -1).every((t) => t === 'MESSAGE_CREATE')).toBe(true);
    expect(types.at(-1)).toBe('RESUMED');
    expect(messages(r).map((f) => f.d.id)).toEqual(expected);
    expect(r.dispatches().map((f) => f.s)).toEqual(
      Array.from({ length: expected.length + 1 }, (_, i) => seq + 1 + i),
    );
  }, 180_000);

  it('kill -9 of a replica holding 200 sessions while 5 msg/s are posted: every session resumes elsewhere and loses nothing', async () => {
    const { apis, stack } = ctx;
    const doomed = await stack.start(GATEWAY_ENV, BOOT);
    const room = (await createChannel(owner, 'public')).id;
    const users = await Promise.all(Array.from({ length: 10 }, (_, i) => registerUser(apis[i % 3]!)));
    for (const [i, u] of users.entries()) await joinPublic(u, room, apis[i % 3]!);
    const sessions = await inBatches(
      Array.from({ length: 200 }, (_, i) => i),
      25,
      async (i) => {
        const user = users[i % users.length]!;
        const c = await ctx.connect(doomed);
        const ready = await c.identify(user.token);
        return {
          i,
          user,
          first: c,
          sessionId: ready.d.sessionId as string,
          resumed: undefined as GatewayClient | undefined,
        };
      },
    );

    const writer = poster(owner, room, apis, 200);
    await until(() => writer.ids.length >= 5, 'five messages before the kill');
    await doomed.stop('SIGKILL');
    // Each client notices its socket die and resumes on one of the surviving replicas.
    await inBatches(sessions, 25, async (s) => {
      await s.first.waitClosed(15_000);
      s.resumed = await ctx.resume(s.i % 3, s.user.token, s.sessionId, s.first.lastSeq);
    });
    const afterResume = writer.ids.length;
    await until(() => writer.ids.length >= afterResume + 5, 'five messages after every resume');
    await writer.stop();
    expect(writer.failures).toEqual([]);

    const got = (s: (typeof sessions)[number]) => [
      ...new Set([...messages(s.first), ...messages(s.resumed!)].map((f) => f.d.id as string)),
    ];
    const missing = () =>
      sessions
        .map((s) => ({ i: s.i, missing: writer.ids.filter((id) => !got(s).includes(id)).length }))
        .filter((m) => m.missing > 0);
    await until(
      () => missing().length === 0,
      () => `every session to have every message: ${JSON.stringify(missing().slice(0, 10))}`,
      30_000,
    );
    for (const s of sessions) {
      expect(s.resumed!.frames.some((f) => f.op === 'INVALID_SESSION')).toBe(false);
      // Nothing but what was posted, in the posted order (a repeat of an id is allowed).
      expect(got(s)).toEqual(writer.ids);
      const seqs = s.resumed!.dispatches().map((f) => f.s!);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(seqs).size).toBe(seqs.length);
    }
  }, 180_000);

  it('typing is not replayed on resume; the messages are', async () => {
    const { apis } = ctx;
    const t = await registerUser(apis[0]!);
    const w = await registerUser(apis[1]!);
    const room = (await createChannel(owner, 'public')).id;
    await joinPublic(t, room, apis[0]!);
    await joinPublic(w, room, apis[1]!);
    const c = await ctx.connect(0);
    const ready = await c.identify(t.token);
    const watcher = await ctx.connect(1);
    await watcher.identify(w.token);
    await flush(owner, room, apis[2]!, c, watcher);
    const seq = c.lastSeq;
    c.end();
    await c.waitClosed();

    await expectStatus(onReplica(owner, apis[1]!).post(`/api/v1/channels/${room}/typing`), 204, 'typing');
    const after = await post(owner, room, 'after typing', apis[2]!);
    // Typing really went out: a connected member saw it live.
    await watcher.waitFor((f) => f.t === 'TYPING_START' && f.d.userId === owner.id);
    await watcher.waitFor((f) => f.t === 'MESSAGE_CREATE' && f.d.id === after);

    const r = await ctx.resume(2, t.token, ready.d.sessionId as string, seq);
    // Presence frames the session was sent while it was connected (its own and the watcher's
    // `online`) may be among the missed ones; apart from them, exactly the message, then RESUMED.
    const replayed = r.dispatches();
    expect(replayed.filter((f) => f.t !== 'PRESENCE_UPDATE').map((f) => f.t)).toEqual([
      'MESSAGE_CREATE',
      'RESUMED',
    ]);
    expect(replayed.find((f) => f.t === 'MESSAGE_CREATE')?.d.id).toBe(after);
    expect(replayed.map((f) => f.s)).toEqual(replayed.map((_, i) => seq + 1 + i));
  });
});

describeWithCluster('gateway delivery when the bus fails (three replicas on an own redis-server)', () => {
  let redis: OwnRedis;
  const ctx = cluster(async () => {
    redis = await startOwnRedis();
    const stack = await threeReplicas({
      redis: false,
      env: { ...GATEWAY_ENV, CARIOS_REDIS_URL: redis.url, CARIOS_REDIS_PREFIX: `delivery-${rand()}:` },
    });
    return { stack, teardown: () => redis.stop() };
  });
  let owner: TestUser;

  beforeAll(async () => {
    owner = await registerUser(ctx.apis[0]!);
  });

  /** Kills replica `index`'s bus connection(s) with CLIENT KILL; resolves with how many. */
  function killBus(index: number): number {
    const server = ctx.stack.servers[index]!;
    const conns = busConnectionsOf(redis.cli, redis.port, server.proc.pid!);
    if (conns.length === 0)
      throw new Error(`no bus connection of replica ${index}:\n${redis.cli('CLIENT', 'LIST')}`);
    for (const c of conns) redis.cli('CLIENT', 'KILL', 'ID', c.id);
    return conns.length;
  }

  it("CLIENT KILL of a replica's bus connection while messages are posted and a member is removed: no gap, no leak", async () => {
    const { apis } = ctx;
    const members = await Promise.all([0, 1, 2, 1].map((i) => registerUser(apis[i]!)));
    const removed = await registerUser(apis[1]!);
    const room = (await createChannel(owner, 'private')).id;
    const lobby = (await createChannel(owner, 'public')).id;
    for (const u of [...members, removed])
      await expectStatus(addMember(owner, room, u.id, apis[0]!), 204, 'add');
    await joinPublic(removed, lobby, apis[1]!);
    // Remaining members on every replica, two on replica 1 (the one whose bus connection dies), and the removed one there too.
    const sockets = await Promise.all([0, 1, 2, 1].map((i) => ctx.connect(i)));
    for (const [i, c] of sockets.entries()) await c.identify(members[i]!.token);
    const r = await ctx.connect(1);
    await r.identify(removed.token);

    const writer = poster(owner, room, [apis[0]!, apis[2]!]);
    await until(() => writer.ids.length >= 15, '15 messages before the kill');
    expect(killBus(1)).toBeGreaterThan(0);
    await expectStatus(removeMember(owner, room, removed.id, apis[0]!), 204, 'remove');
    await until(() => writer.ids.length >= 40, '40 messages');
    // Once more, on the reconnected connection, and on another replica.
    await eventually(async () => killBus(1) > 0, 'replica 1 back on the bus', 10_000);
    killBus(2);
    await until(() => writer.ids.length >= 70, '70 messages');
    await writer.stop();
    expect(writer.failures).toEqual([]);

    const rows = await outboxOf(ctx.stack.env.CARIOS_DATABASE_URL!, [room]);
    const expected = committedMessages(rows, room);
    expect(expected).toEqual(writer.ids);
    for (const [i, c] of sockets.entries()) {
      await until(
        () => messages(c).length >= expected.length,
        () => `member ${i} (replica ${[0, 1, 2, 1][i]}): ${messages(c).length}/${expected.length} messages`,
      );
      expect(messages(c).map((f) => f.d.id)).toEqual(expected);
      expectContiguous(c.frames);
      expect(c.close).toBeUndefined();
    }
    await flush(owner, lobby, apis[2]!, r);
    expect(leaks(r.frames, rows, removed.id)).toEqual([]);
    expect(r.dispatches('CHANNEL_MEMBER_REMOVE').some((f) => f.d.userId === removed.id)).toBe(true);
    expectContiguous(r.frames);
  }, 90_000);

  it("closes a revoked token's sessions on every replica within 1 s (+1.5 s slack) when Redis refuses the logout's bus message", async () => {
    const { apis } = ctx;
    const { user: y, channel: lobby } = await userInNewChannel(owner, apis[0]!);
    const doomed = await Promise.all([0, 1, 2].map((i) => ctx.connect(i)));
    for (const c of doomed) await c.identify(y.token);
    await flush(owner, lobby, apis[0]!, ...doomed);
    expect(redis.cli('ACL', 'SETUSER', 'default', '-publish').trim()).toBe('OK');
    let revokedAt = 0;
    try {
      await expectStatus(onReplica(y, apis[0]!).post('/api/v1/auth/logout'), 204, 'logout');
      revokedAt = Date.now();
      const closes = await Promise.all(
        doomed.map(async (c) => {
          const close = await c.waitClosed(10_000);
          return { code: close.code, withinSlack: Date.now() - revokedAt <= 2500 };
        }),
      );
      expect(closes).toEqual(doomed.map(() => ({ code: 4004, withinSlack: true })));
    } finally {
      redis.cli('ACL', 'SETUSER', 'default', '+publish');
    }
  }, 60_000);

  it('Redis restarted empty mid-stream: every message posted meanwhile reaches every connected member, no session closed', async () => {
    const { apis } = ctx;
    const members = await Promise.all([0, 1, 2].map((i) => registerUser(apis[i]!)));
    const room = (await createChannel(owner, 'public')).id;
    for (const [i, u] of members.entries()) await joinPublic(u, room, apis[i]!);
    const sockets = await Promise.all([0, 1, 2, 0, 1, 2].map((i) => ctx.connect(i)));
    for (const [i, c] of sockets.entries()) await c.identify(members[i % 3]!.token);

    const writer = poster(owner, room, apis, 50);
    await until(() => writer.ids.length >= 10, '10 messages before the outage');
    await redis.stop();
    const before = writer.ids.length;
    await until(() => writer.ids.length >= before + 20, '20 messages during the outage', 30_000);
    await redis.start();
    for (const [i, api] of apis.entries())
      await eventually(async () => (await api.get('/readyz')).status === 200, `readiness of replica ${i}`);
    const back = writer.ids.length;
    await until(() => writer.ids.length >= back + 10, '10 messages after Redis came back');
    await writer.stop();

    const rows = await outboxOf(ctx.stack.env.CARIOS_DATABASE_URL!, [room]);
    const expected = committedMessages(rows, room);
    // Every acknowledged post is among them.
    expect(writer.ids.filter((id) => !expected.includes(id))).toEqual([]);
    for (const [i, c] of sockets.entries()) {
      await until(
        () => messages(c).length >= expected.length || c.close !== undefined,
        () => `socket ${i} (replica ${i % 3}): ${messages(c).length}/${expected.length} messages`,
        30_000,
      );
      expect(c.close).toBeUndefined();
      expect(messages(c).map((f) => f.d.id)).toEqual(expected);
      expectContiguous(c.frames);
    }
  }, 120_000);
});
