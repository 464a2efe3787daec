import { Api, registerUser, TestUser } from '../support/api';
import { describeWithCluster } from '../support/describe';
import { expectContiguous, GatewayClient } from '../support/gateway-client';
import { hasCommand, ProxyProcess, startCaddy, startNginx } from '../support/proxy';
import { startStack, TestStack } from '../support/server';

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
      stack = await startStack(2, { env: { CARIOS_TRUST_PROXY_HOPS: '1' } });
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
  });
});
