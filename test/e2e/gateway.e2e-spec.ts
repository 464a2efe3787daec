import { Client } from 'pg';
import { Api, registerUser, TestUser } from '../support/api';
import { describeWithCluster } from '../support/describe';
import { expectContiguous, GatewayClient } from '../support/gateway-client';
import { startStack, TestStack } from '../support/server';

const GATEWAY_ENV = { CARIOS_GATEWAY_HEARTBEAT_MS: '2000', CARIOS_GATEWAY_IDENTIFY_TIMEOUT_MS: '1000' };

async function createChannel(user: TestUser, api: Api = user.api): Promise<string> {
  const res = await api
    .as(user.token)
    .post('/api/v1/channels', { name: `room-${Math.random().toString(36).slice(2, 8)}`, kind: 'public' });
  if (res.status !== 201) throw new Error(`create channel: ${res.status} ${res.text}`);
  return res.body.id as string;
}

async function join(user: TestUser, channelId: string, api: Api = user.api): Promise<void> {
  const res = await api.as(user.token).put(`/api/v1/channels/${channelId}/members/@me`);
  if (res.status !== 204) throw new Error(`join: ${res.status} ${res.text}`);
}

async function post(
  user: TestUser,
  channelId: string,
  content: string,
  api: Api = user.api,
): Promise<string> {
  const res = await api.as(user.token).post(`/api/v1/channels/${channelId}/messages`, { content });
  if (res.status !== 201) throw new Error(`post: ${res.status} ${res.text}`);
  return res.body.id as string;
}

const contents = (c: GatewayClient) => c.dispatches('MESSAGE_CREATE').map((f) => f.d.content as string);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describeWithCluster('gateway across three replicas', () => {
  let stack: TestStack;
  let apis: Api[];
  let alice: TestUser;
  let bob: TestUser;
  let channelId: string;
  const clients: GatewayClient[] = [];

  const connect = async (i: number, opts?: { heartbeat?: boolean }) => {
    const c = await GatewayClient.connect(stack.servers[i]!.url, opts);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    stack = await startStack(3, { env: GATEWAY_ENV });
    apis = stack.servers.map((s) => new Api(s.url));
    alice = await registerUser(apis[0]!);
    bob = await registerUser(apis[1]!);
    channelId = await createChannel(alice);
    await join(bob, channelId, apis[2]);
  });

  afterEach(() => {
    for (const c of clients.splice(0)) c.terminate();
  });

  afterAll(() => stack.close());

  it('sends HELLO, then READY with the user and their channels as s=1, and acks heartbeats', async () => {
    const c = await connect(0, { heartbeat: false });
    expect(c.frames[0]).toEqual({ op: 'HELLO', d: { heartbeatInterval: 2000 } });
    const ready = await c.identify(alice.token);
    expect(ready).toMatchObject({ op: 'DISPATCH', t: 'READY', s: 1 });
    expect(ready.d.sessionId).toEqual(expect.any(String));
    expect(ready.d.user).toMatchObject({ id: alice.id, username: alice.username });
    expect(ready.d.channels.map((ch: { id: string }) => ch.id)).toContain(channelId);
    c.send({ op: 'HEARTBEAT', d: { seq: 1 } });
    await c.waitFor((f) => f.op === 'HEARTBEAT_ACK');
  });

  it('delivers what is written through the other replicas, in order, with seq without gaps', async () => {
    const c = await connect(0);
    await c.identify(alice.token);
    const sent: string[] = [];
    for (let i = 0; i < 12; i++) {
      const content = `m${i}`;
      await post(bob, channelId, content, apis[1 + (i % 2)]);
      sent.push(content);
    }
    await c.waitForCount('MESSAGE_CREATE', sent.length);
    await sleep(300);
    expect(contents(c)).toEqual(sent);
    expectContiguous(c.frames);
  });

  it('applies joins and leaves without reconnecting; the leaver still gets CHANNEL_MEMBER_REMOVE', async () => {
    const carol = await registerUser(apis[0]!);
    const room = await createChannel(bob, apis[1]);
    const c = await connect(2);
    const ready = await c.identify(carol.token);
    expect(ready.d.channels).toEqual([]);

    await join(carol, room, apis[0]);
    await c.waitFor((f) => f.t === 'CHANNEL_MEMBER_ADD' && f.d.userId === carol.id);
    await post(bob, room, 'after join', apis[1]);
    await c.waitFor((f) => f.t === 'MESSAGE_CREATE' && f.d.content === 'after join');

    const left = await carol.api.delete(`/api/v1/channels/${room}/members/@me`);
    expect(left.status).toBe(204);
    await c.waitFor((f) => f.t === 'CHANNEL_MEMBER_REMOVE' && f.d.userId === carol.id);
    await post(bob, room, 'after leave', apis[1]);
    // A marker in a channel carol still follows: once it arrives, the other one would have too.
    await join(carol, channelId, apis[0]);
    await post(bob, channelId, 'marker', apis[1]);
    await c.waitFor((f) => f.t === 'MESSAGE_CREATE' && f.d.content === 'marker');
    expect(contents(c)).not.toContain('after leave');
    expect(
      c.dispatches('CHANNEL_MEMBER_ADD').filter((f) => f.d.userId === carol.id && f.d.channelId === room),
    ).toHaveLength(1);
    expectContiguous(c.frames);
  });

  it('delivers messages that follow a join closely, before the replica could subscribe', async () => {
    const dave = await registerUser(apis[0]!);
    const rooms = await Promise.all(Array.from({ length: 8 }, () => createChannel(bob, apis[1])));
    const c = await connect(2);
    await c.identify(dave.token);
    // Join and post nearly at once (half of them right after the join's answer, half racing it):
    // each writer publishes its own event after its commit, so the post's event reaches the bus
    // a moment after the join's, faster than replica 2 can subscribe after seeing the join.
    await Promise.all(
      rooms.map(async (room, i) => {
        if (i % 2 === 0) {
          await join(dave, room, apis[0]);
          await post(bob, room, `raced ${i}`, apis[1]);
          return;
        }
        const joined = join(dave, room, apis[0]);
        await sleep(3);
        await Promise.all([joined, post(bob, room, `raced ${i}`, apis[1])]);
      }),
    );
    // What dave must get follows from the committed order: messages after his join event.
    const db = new Client({ connectionString: stack.env.CARIOS_DATABASE_URL });
    await db.connect();
    const { rows } = await db.query<{ channel_id: string; type: string; joined: boolean }>(
      `SELECT channel_id::text, type, (type = 'member.joined' AND payload->>'userId' = $2) AS joined
         FROM outbox WHERE channel_id = ANY($1::bigint[]) AND type IN ('member.joined', 'message.created') ORDER BY id`,
      [rooms, dave.id],
    );
    await db.end();
    const expected = rooms
      .map((room, i) => ({
        room,
        i,
        order: rows.filter((r) => r.channel_id === room).map((r) => (r.joined ? 'join' : 'msg')),
      }))
      .filter((r) => r.order.join() === 'join,msg')
      .map((r) => `raced ${r.i}`);
    expect(expected.length).toBeGreaterThan(0);
    await c.waitForCount('MESSAGE_CREATE', expected.length);
    await sleep(500);
    expect([...contents(c)].sort()).toEqual([...expected].sort());
    expectContiguous(c.frames);
  });

  it('resumes on another replica: exactly the five missed events, then RESUMED, then live events', async () => {
    const c = await connect(0);
    const ready = await c.identify(alice.token);
    await post(bob, channelId, 'before', apis[1]);
    await c.waitFor((f) => f.d?.content === 'before');
    const seq = c.lastSeq;
    c.terminate();
    const missed = ['r1', 'r2', 'r3', 'r4', 'r5'];
    for (const m of missed) await post(bob, channelId, m, apis[2]);

    const r = await connect(1);
    r.send({ op: 'RESUME', d: { token: alice.token, sessionId: ready.d.sessionId, seq } });
    await r.waitFor((f) => f.t === 'RESUMED');
    const dispatches = r.dispatches();
    expect(dispatches.map((f) => f.t)).toEqual([
      'MESSAGE_CREATE',
      'MESSAGE_CREATE',
      'MESSAGE_CREATE',
      'MESSAGE_CREATE',
      'MESSAGE_CREATE',
      'RESUMED',
    ]);
    expect(dispatches.map((f) => f.s)).toEqual([1, 2, 3, 4, 5, 6].map((i) => seq + i));
    expect(contents(r)).toEqual(missed);

    await post(bob, channelId, 'live', apis[0]);
    const live = await r.waitFor((f) => f.d?.content === 'live');
    expect(live.s).toBe(seq + 7);
  });

  it('answers INVALID_SESSION to an unknown session and lets the socket identify afterwards', async () => {
    const c = await connect(1);
    c.send({ op: 'RESUME', d: { token: alice.token, sessionId: 'no-such-session', seq: 3 } });
    await c.waitFor((f) => f.op === 'INVALID_SESSION');
    const ready = await c.identify(alice.token);
    expect(ready.s).toBe(1);
  });

  it('after kill -9 of a replica its clients resume on the others with nothing lost', async () => {
    const doomed = await stack.start(GATEWAY_ENV);
    const doomedIndex = stack.servers.indexOf(doomed);
    const c = await connect(doomedIndex);
    const ready = await c.identify(alice.token);
    await post(bob, channelId, 'k0', apis[0]);
    const k0 = await c.waitFor((f) => f.d?.content === 'k0');
    const seq = c.lastSeq;
    await doomed.stop('SIGKILL');
    // Written while the client has no socket and its replica is gone.
    for (const m of ['k1', 'k2', 'k3']) await post(bob, channelId, m, apis[1]);

    const r = await connect(2);
    r.send({ op: 'RESUME', d: { token: alice.token, sessionId: ready.d.sessionId, seq } });
    await r.waitFor((f) => f.t === 'RESUMED');
    // The dead replica may not have stored that it sent k0: it may come again (same event id), never go missing.
    const again = r.dispatches().filter((f) => f.d?.content === 'k0');
    for (const f of again) expect(f.d.id).toBe(k0.d.id);
    expect(contents(r).filter((m) => m !== 'k0')).toEqual(['k1', 'k2', 'k3']);
    const numbers = r.dispatches().map((f) => f.s);
    expect(numbers).toEqual(numbers.map((_, i) => seq + i + 1));
    expect(numbers).toHaveLength(4 + again.length);
    await post(bob, channelId, 'k4', apis[0]);
    await r.waitFor((f) => f.d?.content === 'k4');
    expect(contents(r).filter((m) => m !== 'k0')).toEqual(['k1', 'k2', 'k3', 'k4']);
  });

  it('closes 1001 on SIGTERM and the client resumes elsewhere without a loss', async () => {
    const leaving = await stack.start(GATEWAY_ENV);
    const c = await connect(stack.servers.indexOf(leaving));
    const ready = await c.identify(alice.token);
    const stopped = leaving.stop('SIGTERM');
    expect((await c.waitClosed()).code).toBe(1001);
    await post(bob, channelId, 't1', apis[1]);
    const r = await connect(0);
    r.send({ op: 'RESUME', d: { token: alice.token, sessionId: ready.d.sessionId, seq: c.lastSeq } });
    await r.waitFor((f) => f.t === 'RESUMED');
    expect(contents(r)).toEqual(['t1']);
    expect(await stopped).toBe(0);
  });

  it('closes the sessions of a token on logout with 4004, and only those', async () => {
    const login = await apis[0]!.post('/api/v1/auth/login', {
      username: bob.username,
      password: 'password123',
    });
    const second = login.body.token as string;
    const doomed = await connect(0);
    await doomed.identify(second);
    const other = await connect(1);
    await other.identify(bob.token);
    expect((await apis[2]!.as(second).post('/api/v1/auth/logout')).status).toBe(204);
    expect((await doomed.waitClosed()).code).toBe(4004);
    await post(alice, channelId, 'still here', apis[2]);
    await other.waitFor((f) => f.d?.content === 'still here');
    expect(other.close).toBeUndefined();
  });

  describe('close codes (and the server keeps serving)', () => {
    let watcher: GatewayClient;

    beforeEach(async () => {
      watcher = await connect(0);
      await watcher.identify(bob.token);
    });

    afterEach(async () => {
      expect((await fetch(`${stack.servers[0]!.url}/healthz`)).status).toBe(200);
      const marker = `alive-${Math.random()}`;
      await post(alice, channelId, marker, apis[1]);
      await watcher.waitFor((f) => f.d?.content === marker);
      expect(watcher.close).toBeUndefined();
    });

    it('4001 when IDENTIFY does not come in time', async () => {
      const c = await connect(0);
      expect((await c.waitClosed()).code).toBe(4001);
    });

    it('4002 on bad JSON', async () => {
      const c = await connect(0);
      c.sendRaw('{"op": "IDENT');
      expect((await c.waitClosed()).code).toBe(4002);
    });

    it('4002 on an unknown op', async () => {
      const c = await connect(0);
      c.send({ op: 'SUBSCRIBE', d: {} });
      expect((await c.waitClosed()).code).toBe(4002);
    });

    it('4002 on a binary frame', async () => {
      const c = await connect(0);
      c.sendRaw(Buffer.from('{"op":"HEARTBEAT"}'), true);
      expect((await c.waitClosed()).code).toBe(4002);
    });

    it('4002 on a second IDENTIFY', async () => {
      const c = await connect(0);
      await c.identify(alice.token);
      c.send({ op: 'IDENTIFY', d: { token: alice.token } });
      expect((await c.waitClosed()).code).toBe(4002);
    });

    it('4004 on a bad token', async () => {
      const c = await connect(0);
      c.send({ op: 'IDENTIFY', d: { token: 'cst_not-a-token' } });
      expect((await c.waitClosed()).code).toBe(4004);
    });

    it('4008 on a flood of frames', async () => {
      const c = await connect(0, { heartbeat: false });
      for (let i = 0; i < 125; i++) c.send({ op: 'HEARTBEAT', d: { seq: null } });
      expect((await c.waitClosed()).code).toBe(4008);
      expect(c.frames.filter((f) => f.op === 'HEARTBEAT_ACK').length).toBe(120);
    });

    it('4009 when heartbeats stop', async () => {
      const c = await connect(0, { heartbeat: false });
      await c.identify(alice.token);
      const started = Date.now();
      expect((await c.waitClosed()).code).toBe(4009);
      expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
    });

    it('1009 on a frame over 64 KiB', async () => {
      const c = await connect(0);
      c.sendRaw(JSON.stringify({ op: 'HEARTBEAT', d: { pad: 'x'.repeat(65 * 1024) } }));
      expect((await c.waitClosed()).code).toBe(1009);
    });
  });
});
