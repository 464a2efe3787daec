import { Api, registerUser } from '../support/api';
import { expectContiguous, GatewayClient } from '../support/gateway-client';
import { startStack, TestStack } from '../support/server';

/** One replica on the in-process bus and session store (no Redis), with an Origin allow-list. */
describe('gateway on one embedded replica', () => {
  let stack: TestStack;
  let api: Api;
  const clients: GatewayClient[] = [];

  beforeAll(async () => {
    stack = await startStack(1, {
      redis: false,
      // Written with a trailing slash and capitals, as operators do: normalised, it still matches.
      env: { CARIOS_GATEWAY_HEARTBEAT_MS: '2000', CARIOS_ALLOWED_ORIGINS: 'https://Chat.Example.com/' },
    });
    api = new Api(stack.servers[0]!.url);
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.terminate();
  });
  afterAll(() => stack.close());

  it('refuses upgrades from other origins with 403 and accepts the allowed one and none', async () => {
    await expect(GatewayClient.connect(api.baseUrl, { origin: 'https://evil.example.com' })).rejects.toThrow(
      'upgrade refused: 403',
    );
    clients.push(await GatewayClient.connect(api.baseUrl, { origin: 'https://chat.example.com' }));
    clients.push(await GatewayClient.connect(api.baseUrl));
  });

  it('delivers messages and resumes a dropped session on the same replica', async () => {
    const alice = await registerUser(api);
    const res = await alice.api.post('/api/v1/channels', { name: 'general', kind: 'public' });
    expect(res.status).toBe(201);
    const channelId = res.body.id as string;
    const c = await GatewayClient.connect(api.baseUrl);
    clients.push(c);
    const ready = await c.identify(alice.token);
    await alice.api.post(`/api/v1/channels/${channelId}/messages`, { content: 'one' });
    await c.waitFor((f) => f.d?.content === 'one');
    const seq = c.lastSeq;
    c.terminate();
    await alice.api.post(`/api/v1/channels/${channelId}/messages`, { content: 'two' });
    await alice.api.post(`/api/v1/channels/${channelId}/typing`);

    const r = await GatewayClient.connect(api.baseUrl);
    clients.push(r);
    r.send({ op: 'RESUME', d: { token: alice.token, sessionId: ready.d.sessionId, seq } });
    await r.waitFor((f) => f.t === 'RESUMED');
    // Typing is not collected for a session without a socket: not replayed.
    expect(r.dispatches().map((f) => [f.t, f.s])).toEqual([
      ['MESSAGE_CREATE', seq + 1],
      ['RESUMED', seq + 2],
    ]);
    expectContiguous([...c.frames, ...r.frames]);
  });
});
