import { Api, registerUser, TestUser } from '../support/api';
import { describeWithCluster } from '../support/describe';
import { expectContiguous, GatewayClient } from '../support/gateway-client';
import { hasCommand, ProxyProcess, startCaddy, startNginx } from '../support/proxy';
import { ServerProcess, startStack, TestStack } from '../support/server';

/** Clients connected through the proxy when a replica is stopped (CARIOS_TEST_DRAIN_CLIENTS overrides). */
const DRAIN_CLIENTS = Number(process.env.CARIOS_TEST_DRAIN_CLIENTS) || 20;

const proxies: [string, (upstreams: [string, string]) => Promise<ProxyProcess>][] = [
  ['nginx', startNginx],
  ['caddy', startCaddy],
];

describe.each(proxies)('behind %s', (name, startProxy) => {
  const describeIf = hasCommand(name) ? describeWithCluster : describe.skip;

  describeIf('two replicas, no sticky sessions', () => {
    let stack: TestStack;
    let proxy: ProxyProcess;
    let api: Api;
    let alice: TestUser;
    let bob: TestUser;
    let channelId: string;

    beforeAll(async () => {
      stack = await startStack(2, {
        // DRAIN_CLIENTS sessions of one user, opened at once from one address.
        env: {
          CARIOS_TRUST_PROXY_HOPS: '1',
          CARIOS_GATEWAY_MAX_SESSIONS_PER_USER: '10000',
          CARIOS_GATEWAY_MAX_UNIDENTIFIED_PER_IP: '10000',
        },
      });
      proxy = await startProxy(stack.servers.map((s) => `127.0.0.1:${s.port}`) as [string, string]);
      api = new Api(proxy.url);
      alice = await registerUser(api);
      bob = await registerUser(api);
      const created = await alice.api.post('/api/v1/channels', { name: `proxied-${name}`, kind: 'public' });
      expect(created.status).toBe(201);
      channelId = created.body.id;
      expect((await bob.api.put(`/api/v1/channels/${channelId}/members/@me`)).status).toBe(204);
    });
    afterAll(async () => {
      await proxy?.stop();
      await stack?.close();
    });

    it('serves REST in the contract shape through the proxy', async () => {
      const me = await bob.api.get('/api/v1/users/@me');
      expect(me.status).toBe(200);
      expect(me.body.id).toBe(bob.id);
      expect(me.headers.get('ratelimit-limit')).not.toBeNull();
      const missing = await bob.api.get('/api/v1/no-such-route');
      expect(missing.status).toBe(404);
      expect(missing.body.error.code).toBe('not_found');
    });

    it('upgrades /gateway and delivers messages written through either replica, in order, without gaps', async () => {
      const gw = await GatewayClient.connect(proxy.url, { heartbeat: false });
      try {
        await gw.identify(bob.token);
        // Round robin spreads these writes over both replicas; the socket sits on one of them.
        const sent: string[] = [];
        for (let i = 0; i < 6; i++) {
          const res = await alice.api.post(`/api/v1/channels/${channelId}/messages`, {
            content: `via ${name} #${i}`,
          });
          expect(res.status).toBe(201);
          sent.push(res.body.id);
        }
        const creates = await gw.waitForCount('MESSAGE_CREATE', sent.length);
        expect(creates.map((f) => f.d.id)).toEqual(sent);
        expectContiguous(gw.frames);
        gw.send({ op: 'HEARTBEAT', d: { seq: gw.lastSeq } });
        await gw.waitFor((f) => f.op === 'HEARTBEAT_ACK');
      } finally {
        gw.end();
      }
    });

    // Last: it stops one of the two replicas.
    it('SIGTERM of a replica: every client on it resumes on the other through the proxy, never refused', async () => {
      const [leaving, staying] = stack.servers as [ServerProcess, ServerProcess];
      // Written straight to the replica that stays, so only the gateway goes through the drain.
      const direct = new Api(staying.url, alice.token);
      const clients = await Promise.all(
        Array.from({ length: DRAIN_CLIENTS }, async () => {
          const gw = await GatewayClient.connect(proxy.url);
          const ready = await gw.identify(bob.token);
          return { gw, sessionId: ready.d.sessionId as string };
        }),
      );
      try {
        const posted: string[] = [];
        const say = async (content: string) => {
          const res = await direct.post(`/api/v1/channels/${channelId}/messages`, { content });
          expect(res.status).toBe(201);
          posted.push(res.body.id as string);
        };
        await say('before the drain');
        for (const { gw } of clients) await gw.waitFor((f) => f.d?.id === posted[0]);

        const resumeMs: number[] = [];
        const stopped = leaving.stop('SIGTERM');
        const moves = clients.map(async ({ gw, sessionId }) => {
          const closed = await Promise.race([gw.closed, stopped.then(() => undefined)]);
          if (!closed) return { moved: false, gw };
          const closedAt = Date.now();
          try {
            const next = await GatewayClient.connect(proxy.url);
            next.send({ op: 'RESUME', d: { token: bob.token, sessionId, seq: gw.lastSeq } });
            const answer = await next.waitFor((f) => f.t === 'RESUMED' || f.op === 'INVALID_SESSION');
            resumeMs.push(Date.now() - closedAt);
            return { moved: true, gw: next, close: closed.code, answer: answer.t ?? answer.op };
          } catch (err) {
            return { moved: true, gw, close: closed.code, answer: String(err) };
          }
        });
        for (let i = 0; i < 3; i++) await say(`during the drain ${i}`);
        const outcomes = await Promise.all(moves);
        if (process.env.CARIOS_TEST_TIMINGS) {
          // A figure for the table (close 1001 to RESUMED), never an assertion.
          const sorted = [...resumeMs].sort((a, b) => a - b);
          const p95 = sorted[Math.max(0, Math.ceil(sorted.length * 0.95) - 1)];
          process.stdout.write(
            `${name} drain: ${sorted.length} resumes, p95 ${p95} ms, max ${sorted.at(-1)} ms\n`,
          );
        }
        expect(await stopped).toBe(0);
        await say('after the drain');

        const moved = outcomes.filter((o) => o.moved);
        // Round robin put some of the clients on the leaving replica.
        expect(moved.length).toBeGreaterThan(0);
        // Each was told to go (1001) and resumed at its first try: no 503, no INVALID_SESSION.
        expect(moved.map((o) => [o.close, o.answer])).toEqual(moved.map(() => [1001, 'RESUMED']));
        for (const [i, o] of outcomes.entries()) {
          const before = o.moved ? clients[i]!.gw.dispatches('MESSAGE_CREATE') : [];
          await o.gw.waitFor((f) => f.d?.id === posted.at(-1));
          const got = new Set([...before, ...o.gw.dispatches('MESSAGE_CREATE')].map((f) => f.d.id as string));
          expect(posted.filter((id) => !got.has(id))).toEqual([]);
        }
        for (const o of outcomes) o.gw.end();
      } finally {
        for (const { gw } of clients) gw.terminate();
      }
    });
  });
});
