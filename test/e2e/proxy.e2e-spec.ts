import WebSocket from 'ws';
import { Api, registerUser, TestUser } from '../support/api';
import { describeWithCluster } from '../support/describe';
import { hasCommand, ProxyProcess, startCaddy, startNginx } from '../support/proxy';
import { startStack, TestStack } from '../support/server';

interface Frame {
  op: string;
  d?: any;
  s?: number;
  t?: string;
}

/** Opens a gateway socket through the proxy, identifies, and collects every frame. */
async function connectGateway(baseUrl: string, token: string): Promise<{ ws: WebSocket; frames: Frame[]; next: (pred: (f: Frame) => boolean) => Promise<Frame> }> {
  const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/gateway`);
  const frames: Frame[] = [];
  const waiters: { pred: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  ws.on('message', (data) => {
    const frame = JSON.parse(String(data)) as Frame;
    frames.push(frame);
    for (const w of [...waiters]) {
      if (w.pred(frame)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(frame);
      }
    }
  });
  const next = (pred: (f: Frame) => boolean) =>
    new Promise<Frame>((resolve, reject) => {
      const seen = frames.find(pred);
      if (seen) return resolve(seen);
      const timer = setTimeout(() => reject(new Error(`no matching frame; got ${JSON.stringify(frames)}`)), 10_000);
      waiters.push({ pred, resolve: (f) => (clearTimeout(timer), resolve(f)) });
    });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  await next((f) => f.op === 'HELLO');
  ws.send(JSON.stringify({ op: 'IDENTIFY', d: { token } }));
  await next((f) => f.op === 'DISPATCH' && f.t === 'READY');
  return { ws, frames, next };
}

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
      const gw = await connectGateway(proxy.url, bob.token);
      try {
        // Round robin spreads these writes over both replicas; the socket sits on one of them.
        const sent: string[] = [];
        for (let i = 0; i < 6; i++) {
          const res = await alice.api.post(`/api/v1/channels/${channelId}/messages`, { content: `via ${name} #${i}` });
          expect(res.status).toBe(201);
          sent.push(res.body.id);
        }
        await gw.next((f) => f.t === 'MESSAGE_CREATE' && f.d?.id === sent[sent.length - 1]);
        const creates = gw.frames.filter((f) => f.t === 'MESSAGE_CREATE' && f.d?.channelId === channelId);
        expect(creates.map((f) => f.d.id)).toEqual(sent);
        const seqs = gw.frames.filter((f) => f.op === 'DISPATCH').map((f) => f.s);
        expect(seqs).toEqual(seqs.map((_, i) => i + 1));
        gw.ws.send(JSON.stringify({ op: 'HEARTBEAT', d: { seq: seqs[seqs.length - 1] } }));
        await gw.next((f) => f.op === 'HEARTBEAT_ACK');
      } finally {
        gw.ws.close();
      }
    });
  });
});
