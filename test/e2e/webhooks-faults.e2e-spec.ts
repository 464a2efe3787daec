import { createServer, Server } from 'node:net';
import { Client } from 'pg';
import { Api, registerUser, TestUser } from '../support/api';
import { createChannel, postMessage } from '../support/chat';
import { describeWithPostgres } from '../support/describe';
import { ServerProcess, startStack, TestStack } from '../support/server';
import { eventually } from '../support/wait';
import { WebhookReceiver } from '../support/webhook-receiver';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function createHook(
  owner: TestUser,
  receiver: WebhookReceiver | undefined,
  url: string,
  channelId?: string,
) {
  const res = await owner.api.post('/api/v1/webhooks', {
    url,
    events: ['message.created'],
    ...(channelId ? { channelIds: [channelId] } : {}),
  });
  if (res.status !== 201) throw new Error(`create webhook: ${res.status} ${res.text}`);
  receiver?.secrets.set(new URL(url).pathname, [res.body.secret]);
  return { id: res.body.id as string, secret: res.body.secret as string, path: new URL(url).pathname };
}

/**
 * Every address class the SSRF guard knows of that can be reached from here without sending a
 * packet off this machine (loopback in all its spellings, the unspecified address): each is refused
 * at delivery, logged as such, and a canary listening on loopback counts no connection. The
 * private, link-local, metadata, CGNAT, multicast and reserved classes are checked without any
 * network in libs/webhooks/src/delivery/ssrf-guard.spec.ts (this machine may not send to them).
 */
describeWithPostgres('webhooks: SSRF guard at delivery time (private networks not allowed)', () => {
  let stack: TestStack;
  let canary: Server;
  let canary6: Server | undefined;
  let port: number;
  let connections = 0;
  let alice: TestUser;

  beforeAll(async () => {
    canary = createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((r) => canary.listen(0, '127.0.0.1', r));
    port = (canary.address() as { port: number }).port;
    canary6 = createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((r, j) => {
      canary6!.once('error', j);
      canary6!.listen(port, '::1', r);
    }).catch(() => (canary6 = undefined));
    stack = await startStack(1);
    alice = await registerUser(new Api(stack.servers[0]!.url));
  });
  afterAll(async () => {
    await stack.close();
    canary.close();
    canary6?.close();
  });

  it('refuses every loopback spelling and logs the refusal; the canary is never reached', async () => {
    const hosts = [
      '127.0.0.1',
      'localhost',
      '2130706433',
      '0x7f.1',
      '017700000001',
      '127.1',
      '0x7f000001',
      '[::1]',
      '[::ffff:127.0.0.1]',
      '[::ffff:7f00:1]',
      '[::7f00:1]',
      '0.0.0.0',
      '0',
      '[::]',
    ];
    const ch = await createChannel(alice);
    const hooks = [];
    for (const host of hosts)
      hooks.push({ host, ...(await createHook(alice, undefined, `http://${host}:${port}/x`, ch.id)) });
    await postMessage(alice, ch.id, 'to nowhere');
    for (const h of hooks) {
      await eventually(
        async () =>
          ((await alice.api.get(`/api/v1/webhooks/${h.id}/deliveries`)).body as any[]).some(
            (e) => e.status === 'refused',
          ),
        `a refused attempt for ${h.host}`,
      );
      const [entry] = (await alice.api.get(`/api/v1/webhooks/${h.id}/deliveries`)).body;
      expect(entry).toMatchObject({
        status: 'refused',
        responseStatus: null,
        error: expect.stringMatching(/not public/),
      });
    }
    expect(connections).toBe(0);
    const metrics = await (await fetch(`${stack.servers[0]!.url}/metrics`)).text();
    expect(metrics).toMatch(/cariosan_webhook_deliveries_total\{outcome="refused"\} [1-9]/);
  });
});

describeWithPostgres('webhooks: delivery through crashes, database faults and hostile receivers', () => {
  let stack: TestStack;
  let admin: Client;
  let receiver: WebhookReceiver;
  let alice: TestUser;
  let dbName: string;

  beforeAll(async () => {
    stack = await startStack(2, {
      env: {
        CARIOS_WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
        CARIOS_WEBHOOK_RETRY_SCHEDULE: '200ms,300ms,500ms,1s,1s,1s,1s,1s,1s,1s',
      },
    });
    dbName = new URL(stack.env.CARIOS_DATABASE_URL!).pathname.slice(1);
    admin = new Client({ connectionString: stack.env.CARIOS_DATABASE_URL });
    await admin.connect();
    receiver = await WebhookReceiver.start();
    alice = await registerUser(new Api(stack.servers[0]!.url));
  });
  afterAll(async () => {
    await receiver.close();
    await admin.end();
    await stack.close();
  });

  const live = () => stack.servers.filter((s) => s.proc.exitCode === null && s.proc.signalCode === null);
  /** Alice, talking to a replica that is alive (earlier tests kill some). */
  const aliceOn = (server = live()[0]!): TestUser => ({ ...alice, api: new Api(server.url, alice.token) });

  /** Waits until every message was received at `path`; checks each delivery's signature and that one event keeps one webhook-id. */
  async function expectAllDelivered(path: string, messageIds: string[], timeoutMs: number) {
    await eventually(
      async () => {
        const got = new Set(receiver.to(path).map((d) => d.payload.data?.id));
        return messageIds.every((id) => got.has(id));
      },
      `all ${messageIds.length} messages at ${path}`,
      timeoutMs,
    );
    const ids = new Map<string, Set<string>>();
    for (const d of receiver.to(path)) {
      expect(d.verifiedWith).toHaveLength(1);
      ids.set(d.payload.data.id, (ids.get(d.payload.data.id) ?? new Set()).add(d.webhookId));
    }
    for (const id of messageIds) expect(ids.get(id)?.size).toBe(1);
  }

  it('kill -9 of a replica in the middle of deliveries, ten times over, loses nothing', async () => {
    const ch = await createChannel(aliceOn());
    const h = await createHook(aliceOn(), receiver, `${receiver.url}/kill`, ch.id);
    // A slow receiver: deliveries are in flight when a replica dies.
    receiver.raw = (_req, res) => setTimeout(() => res.writeHead(200).end(), 30);
    const posted: string[] = [];
    let victim = 1;
    for (let round = 0; round < 10; round++) {
      const servers = live();
      const writer = servers.find((_, i) => i !== victim % servers.length) ?? servers[0]!;
      for (let i = 0; i < 15; i++)
        posted.push((await postMessage(aliceOn(writer), ch.id, `r${round}-${i}`)).id);
      await sleep(100 + Math.random() * 200);
      const dying: ServerProcess = servers[victim % servers.length]!;
      await dying.stop('SIGKILL');
      victim++;
      await stack.start();
    }
    // Claims of the killed replicas are taken over when their 30 s leases expire.
    await expectAllDelivered(h.path, posted, 90_000);
    receiver.raw = undefined;
  }, 480_000);

  it('Postgres connections killed during deliveries: every event still arrives', async () => {
    const ch = await createChannel(aliceOn());
    const h = await createHook(aliceOn(), receiver, `${receiver.url}/pgkill`, ch.id);
    receiver.raw = (_req, res) => setTimeout(() => res.writeHead(200).end(), 10);
    const servers = live();
    const posted: string[] = [];
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 10; i++) {
        const api = new Api(servers[i % servers.length]!.url, alice.token);
        const res = await api.post(`/api/v1/channels/${ch.id}/messages`, {
          content: `pg${round}-${i}`,
          nonce: `pg${round}-${i}`,
        });
        if (res.status === 201 || res.status === 200) posted.push(res.body.id);
      }
      await admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = $1 AND pid <> pg_backend_pid() AND application_name = 'cariosan'`,
        [dbName],
      );
      await sleep(100);
    }
    expect(posted.length).toBeGreaterThan(30);
    await expectAllDelivered(h.path, posted, 60_000);
    for (const s of servers) expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
    receiver.raw = undefined;
  }, 120_000);

  it('receivers that trickle or flood a huge body are cut off; the server’s memory stays flat', async () => {
    const server = live()[0]!;
    const alice = aliceOn(server);
    const rss = async () =>
      Number(
        /process_resident_memory_bytes (\d+)/.exec(await (await fetch(`${server.url}/metrics`)).text())![1],
      );
    const ch = await createChannel(alice);
    const trickle = await createHook(alice, receiver, `${receiver.url}/trickle`, ch.id);
    const floods = [];
    for (let i = 0; i < 10; i++)
      floods.push(await createHook(alice, receiver, `${receiver.url}/flood${i}`, ch.id));
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const open = new Set<NodeJS.Timeout>();
    receiver.raw = (req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      if (req.url === trickle.path) {
        // 10 bytes every 200 ms, for ever: only the 15 s total timeout ends it.
        const t = setInterval(() => res.write('0123456789'), 200);
        open.add(t);
        res.on('close', () => (clearInterval(t), open.delete(t)));
        return;
      }
      // As fast as the socket takes it, up to 200 MB per request.
      let sent = 0;
      const pump = () => {
        while (sent < 200 * 1024 * 1024 && !res.destroyed) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    };
    const before = await rss();
    const started = Date.now();
    const m = await postMessage(alice, ch.id, 'huge answers');
    const paths = [trickle.path, ...floods.map((f) => f.path)];
    const logs = async (id: string) =>
      (await alice.api.get(`/api/v1/webhooks/${id}/deliveries`)).body as any[];
    await eventually(async () => (await logs(trickle.id)).length > 0, 'the trickle attempt logged', 30_000);
    const elapsed = Date.now() - started;
    for (const f of floods)
      await eventually(async () => (await logs(f.id)).length > 0, 'flood attempts logged');
    const after = await rss();
    const [t] = await logs(trickle.id);
    expect(t).toMatchObject({ status: 'delivered', responseStatus: 200 });
    // Cut off at the 15 s total timeout, not waited for.
    expect(t.durationMs).toBeGreaterThanOrEqual(14_000);
    expect(elapsed).toBeLessThan(25_000);
    for (const f of floods)
      expect((await logs(f.id))[0]).toMatchObject({ status: 'delivered', responseStatus: 200 });
    expect(paths.every((p) => receiver.to(p).some((d) => d.payload.data.id === m.id))).toBe(true);
    expect(after - before).toBeLessThan(50 * 1024 * 1024);
    for (const t of open) clearInterval(t);
    receiver.raw = undefined;
  }, 60_000);
});
