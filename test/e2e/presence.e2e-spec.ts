import { Api, registerUser, TestUser } from '../support/api';
import { createChannel } from '../support/chat';
import { describeWithCluster, describeWithPostgres } from '../support/describe';
import { type Frame, GatewayClient } from '../support/gateway-client';
import { type OwnRedis, startOwnRedis } from '../support/redis-server';
import { startStack, TestStack } from '../support/server';
import { eventually } from '../support/wait';

/** A short presence TTL (the default is 30 s) so the kill -9 test takes seconds. */
const ENV = {
  CARIOS_GATEWAY_HEARTBEAT_MS: '2000',
  CARIOS_PRESENCE_TTL_MS: '3000',
  CARIOS_GATEWAY_MAX_SESSIONS_PER_USER: '5',
  CARIOS_GATEWAY_MAX_UNIDENTIFIED_PER_IP: '4',
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function join(user: TestUser, channelId: string): Promise<void> {
  const res = await user.api.put(`/api/v1/channels/${channelId}/members/@me`);
  if (res.status !== 204) throw new Error(`join: ${res.status} ${res.text}`);
}

const presenceOf = (c: GatewayClient, userId: string) =>
  c.dispatches('PRESENCE_UPDATE').filter((f) => f.d.userId === userId);

const statusFrame = (userId: string, status: string) => (f: Frame) =>
  f.t === 'PRESENCE_UPDATE' && f.d.userId === userId && f.d.status === status;

describeWithCluster('presence and session limits across three replicas', () => {
  let stack: TestStack;
  let apis: Api[];
  const clients: GatewayClient[] = [];

  const connect = async (i: number, token?: string) => {
    const c = await GatewayClient.connect(stack.servers[i]!.url);
    clients.push(c);
    if (token) await c.identify(token);
    return c;
  };

  /** Two users sharing a channel, and a third sharing none with them. */
  const trio = async () => {
    const alice = await registerUser(apis[0]!);
    const bob = await registerUser(apis[1]!);
    const carol = await registerUser(apis[2]!);
    const channel = await createChannel(alice);
    await join(bob, channel.id);
    await createChannel(carol);
    return { alice, bob, carol };
  };

  beforeAll(async () => {
    stack = await startStack(3, { env: ENV });
    apis = stack.servers.map((s) => new Api(s.url));
  });

  afterEach(() => {
    for (const c of clients.splice(0)) c.terminate();
  });

  afterAll(() => stack.close());

  it('turns online on identify, to channel-sharing users only, and GET /presence filters the same way', async () => {
    const { alice, bob, carol } = await trio();
    const bobWatch = await connect(1, bob.token);
    const carolWatch = await connect(2, carol.token);
    expect((await bob.api.get(`/api/v1/presence?userIds=${alice.id}`)).body).toEqual({
      [alice.id]: 'offline',
    });

    await connect(0, alice.token);
    await bobWatch.waitFor(statusFrame(alice.id, 'online'));
    const asBob = await apis[2]!
      .as(bob.token)
      .get(`/api/v1/presence?userIds=${alice.id},${bob.id},${carol.id}`);
    expect(asBob.status).toBe(200);
    expect(asBob.body).toEqual({ [alice.id]: 'online', [bob.id]: 'online' });

    // Carol shares no channel: no frame about alice, and GET leaves alice out.
    const asCarol = await carol.api.get(`/api/v1/presence?userIds=${alice.id},${carol.id}`);
    expect(asCarol.body).toEqual({ [carol.id]: 'online' });
    await sleep(1000);
    expect(presenceOf(carolWatch, alice.id)).toEqual([]);
    expect(presenceOf(carolWatch, bob.id)).toEqual([]);
  });

  it('announces once for five sessions on three replicas, and offline once after the last one closes', async () => {
    const { alice, bob } = await trio();
    const bobWatch = await connect(2, bob.token);
    const tabs = await Promise.all([0, 1, 2, 0, 1].map((i) => connect(i, alice.token)));
    await bobWatch.waitFor(statusFrame(alice.id, 'online'));
    // Tabs closing and reopening while others live change nothing either.
    tabs[0]!.end();
    tabs.push(await connect(2, alice.token));
    await sleep(1500);
    expect(presenceOf(bobWatch, alice.id).map((f) => f.d.status)).toEqual(['online']);

    for (const t of tabs) t.end();
    await bobWatch.waitFor(statusFrame(alice.id, 'offline'), 30_000);
    await sleep(500);
    expect(presenceOf(bobWatch, alice.id).map((f) => f.d.status)).toEqual(['online', 'offline']);
    expect((await bob.api.get(`/api/v1/presence?userIds=${alice.id}`)).body).toEqual({
      [alice.id]: 'offline',
    });
  });

  it('follows dnd and idle, keeps the choice across sessions, and says nothing while offline', async () => {
    const { alice, bob } = await trio();
    const bobWatch = await connect(0, bob.token);
    const tab = await connect(1, alice.token);
    await bobWatch.waitFor(statusFrame(alice.id, 'online'));

    expect((await alice.api.put('/api/v1/users/@me/presence', { status: 'dnd' })).status).toBe(204);
    await bobWatch.waitFor(statusFrame(alice.id, 'dnd'));
    // Not to alice's own sessions.
    expect(presenceOf(tab, alice.id)).toEqual([]);
    expect((await apis[2]!.as(bob.token).get(`/api/v1/presence?userIds=${alice.id}`)).body).toEqual({
      [alice.id]: 'dnd',
    });
    // The same status again changes nothing.
    await alice.api.put('/api/v1/users/@me/presence', { status: 'dnd' });

    tab.end();
    await bobWatch.waitFor(statusFrame(alice.id, 'offline'), 30_000);
    // Chosen while offline: stored, not announced.
    await alice.api.put('/api/v1/users/@me/presence', { status: 'idle' });
    await sleep(500);
    expect(presenceOf(bobWatch, alice.id).map((f) => f.d.status)).toEqual(['online', 'dnd', 'offline']);
    await connect(2, alice.token);
    await bobWatch.waitFor(statusFrame(alice.id, 'idle'));
    await alice.api.put('/api/v1/users/@me/presence', { status: 'online' });
    await bobWatch.waitFor(() => presenceOf(bobWatch, alice.id).length >= 5);
    expect(presenceOf(bobWatch, alice.id).map((f) => f.d.status)).toEqual([
      'online',
      'dnd',
      'offline',
      'idle',
      'online',
    ]);
  });

  it('turns offline within 60 s after kill -9 of the replica holding the only session', async () => {
    const { alice, bob } = await trio();
    const doomed = await stack.start();
    const bobWatch = await connect(0, bob.token);
    const tab = await GatewayClient.connect(doomed.url);
    clients.push(tab);
    await tab.identify(alice.token);
    await bobWatch.waitFor(statusFrame(alice.id, 'online'));
    const killedAt = Date.now();
    await doomed.stop('SIGKILL');
    await bobWatch.waitFor(statusFrame(alice.id, 'offline'), 60_000);
    // TTL 3 s + a sweep every 0.5 s (the default TTL of 30 s gives 35 s at most; see app-config.spec).
    expect(Date.now() - killedAt).toBeLessThan(60_000);
    expect(presenceOf(bobWatch, alice.id).map((f) => f.d.status)).toEqual(['online', 'offline']);
  });

  it('a client moved off a draining replica (SIGTERM, 1001, RESUME elsewhere) stays online without a flap', async () => {
    const { alice, bob } = await trio();
    const draining = await stack.start();
    const bobWatch = await connect(0, bob.token);
    const tab = await GatewayClient.connect(draining.url);
    clients.push(tab);
    const ready = await tab.identify(alice.token);
    await bobWatch.waitFor(statusFrame(alice.id, 'online'));
    const stopped = draining.stop('SIGTERM');
    expect((await tab.waitClosed()).code).toBe(1001);
    const resumed = await connect(1);
    resumed.send({ op: 'RESUME', d: { token: alice.token, sessionId: ready.d.sessionId, seq: tab.lastSeq } });
    await resumed.waitFor((f) => f.t === 'RESUMED');
    await stopped;
    // Past the dead replica's TTL (3 s) and several sweeps: still one announcement.
    await sleep(5000);
    expect(presenceOf(bobWatch, alice.id).map((f) => f.d.status)).toEqual(['online']);
    resumed.end();
    await bobWatch.waitFor(statusFrame(alice.id, 'offline'), 30_000);
  });

  it('GET /presence answers 400 for no ids, bad ids and more than 100', async () => {
    const { alice } = await trio();
    const ids = Array.from({ length: 101 }, (_, i) => String(1000 + i)).join(',');
    for (const q of ['', '?userIds=', '?userIds=abc', `?userIds=${ids}`, `?userIds=${alice.id}&x=1`]) {
      const res = await alice.api.get(`/api/v1/presence${q}`);
      expect([q, res.status, res.body?.error?.code]).toEqual([q, 400, 'validation_failed']);
    }
    const hundred = Array.from({ length: 99 }, (_, i) => String(1000 + i))
      .concat(alice.id)
      .join(',');
    expect((await alice.api.get(`/api/v1/presence?userIds=${hundred}`)).status).toBe(200);
    const bad = await alice.api.put('/api/v1/users/@me/presence', { status: 'offline' });
    expect([bad.status, bad.body.error.code]).toEqual([400, 'validation_failed']);
    expect((await new Api(stack.servers[0]!.url).get(`/api/v1/presence?userIds=${alice.id}`)).status).toBe(
      401,
    );
  });

  it('a session over the per-user cap closes the oldest with 4008, on whichever replica holds it', async () => {
    const { alice } = await trio();
    const first = await connect(1, alice.token);
    const firstId = (first.dispatches('READY')[0]!.d as { sessionId: string }).sessionId;
    const others: GatewayClient[] = [];
    for (const i of [2, 0, 1, 2]) {
      await sleep(20);
      others.push(await connect(i, alice.token));
    }
    await sleep(500);
    expect(first.close).toBeUndefined();
    // The sixth, on another replica than the oldest.
    others.push(await connect(0, alice.token));
    expect(await first.waitClosed()).toEqual({ code: 4008, reason: 'too many sessions' });
    await sleep(500);
    for (const c of others) expect(c.close).toBeUndefined();
    // The evicted session cannot be resumed.
    const again = await connect(1);
    again.send({ op: 'RESUME', d: { token: alice.token, sessionId: firstId, seq: 1 } });
    await again.waitFor((f) => f.op === 'INVALID_SESSION');
  });

  it('refuses more unidentified connections per IP than allowed, per replica', async () => {
    const waiting: GatewayClient[] = [];
    for (let i = 0; i < 4; i++) waiting.push(await connect(2));
    await expect(GatewayClient.connect(stack.servers[2]!.url)).rejects.toThrow('upgrade refused: 429');
    // Another replica counts its own.
    await connect(1);
    // One identifies: room for one more.
    const user = await registerUser(apis[0]!);
    await waiting[0]!.identify(user.token);
    await connect(2);
    // One closes: room again.
    waiting[1]!.terminate();
    await sleep(200);
    await connect(2);
  });
});

describeWithPostgres('presence across a Redis restart (an own redis-server, nothing saved)', () => {
  let redis: OwnRedis;
  let stack: TestStack;
  let apis: Api[];
  const clients: GatewayClient[] = [];

  beforeAll(async () => {
    redis = await startOwnRedis();
    stack = await startStack(2, {
      redis: false,
      env: { ...ENV, CARIOS_REDIS_URL: redis.url, CARIOS_REDIS_PREFIX: 'presence-restart:' },
    });
    apis = stack.servers.map((s) => new Api(s.url));
  });
  afterAll(async () => {
    for (const c of clients) c.terminate();
    await stack?.close();
    await redis?.stop();
  });

  it('never says offline while a session lives, is online again once Redis is back, and says offline for a session that ended meanwhile', async () => {
    const alice = await registerUser(apis[0]!);
    const bob = await registerUser(apis[1]!);
    const dave = await registerUser(apis[0]!);
    const channel = await createChannel(alice);
    await join(bob, channel.id);
    await join(dave, channel.id);
    const tab = await GatewayClient.connect(stack.servers[0]!.url);
    const daveTab = await GatewayClient.connect(stack.servers[0]!.url);
    const watch = await GatewayClient.connect(stack.servers[1]!.url);
    clients.push(tab, daveTab, watch);
    await watch.identify(bob.token);
    await tab.identify(alice.token);
    await daveTab.identify(dave.token);
    await watch.waitFor(statusFrame(alice.id, 'online'));
    await watch.waitFor(statusFrame(dave.id, 'online'));

    // Down for two TTLs: the store and every entry in it are gone when it comes back. Dave leaves
    // meanwhile: the store cannot be told, and once it is back it no longer knows he was online.
    await redis.stop();
    daveTab.terminate();
    await sleep(1000);
    const during = await bob.api.get(`/api/v1/presence?userIds=${alice.id}`);
    expect([200, 503]).toContain(during.status);
    await sleep(5000);
    await redis.start();
    await watch.waitFor(statusFrame(dave.id, 'offline'), 60_000);

    // The replica holding alice's session writes it again with its next refresh.
    await eventually(
      async () => (await bob.api.get(`/api/v1/presence?userIds=${alice.id}`)).body?.[alice.id] === 'online',
      'alice online again after the restart',
      15_000,
    );
    expect(presenceOf(watch, alice.id).some((f) => f.d.status === 'offline')).toBe(false);

    // Presence still works end to end: the session ends, bob hears it.
    tab.terminate();
    await watch.waitFor(statusFrame(alice.id, 'offline'), 60_000);
    for (const s of stack.servers) expect(s.proc.exitCode).toBeNull();
  });
});

describe('presence on one embedded replica (no Redis: the in-process store)', () => {
  let stack: TestStack;
  const clients: GatewayClient[] = [];

  beforeAll(async () => {
    stack = await startStack(1, { redis: false, env: ENV });
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.terminate();
  });
  afterAll(() => stack.close());

  it('announces online, dnd and offline, caps sessions, and GET /presence answers', async () => {
    const api = new Api(stack.servers[0]!.url);
    const alice = await registerUser(api);
    const bob = await registerUser(api);
    const channel = await createChannel(alice);
    await join(bob, channel.id);
    const connect = async (token: string) => {
      const c = await GatewayClient.connect(api.baseUrl);
      clients.push(c);
      await c.identify(token);
      return c;
    };
    const bobWatch = await connect(bob.token);
    const tabs = [];
    for (let i = 0; i < 5; i++) tabs.push(await connect(alice.token));
    await bobWatch.waitFor(statusFrame(alice.id, 'online'));
    await alice.api.put('/api/v1/users/@me/presence', { status: 'dnd' });
    await bobWatch.waitFor(statusFrame(alice.id, 'dnd'));
    expect((await bob.api.get(`/api/v1/presence?userIds=${alice.id}`)).body).toEqual({ [alice.id]: 'dnd' });
    await connect(alice.token);
    expect((await tabs[0]!.waitClosed()).code).toBe(4008);
    for (const t of tabs) t.end();
    clients.at(-1)!.end();
    await bobWatch.waitFor(statusFrame(alice.id, 'offline'), 30_000);
    expect(presenceOf(bobWatch, alice.id).map((f) => f.d.status)).toEqual(['online', 'dnd', 'offline']);
  });
});
