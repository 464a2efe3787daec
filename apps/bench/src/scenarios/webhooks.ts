import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import type { Flags } from '../support/args';
import { withClient } from '../support/database';
import { procCpuSeconds, spawnTracked, sleep } from '../support/processes';
import { machineLoad, printTable, ratio, writeResult, type Row } from '../support/report';
import { startBenchRedis } from '../support/redis';
import { api, createChannel, insertUsers } from '../support/seed';
import { startStack } from '../support/stack';
import { Histogram } from '../support/stats';
import { benchEnv } from '../support/env';
import { uptime } from './common';

const BASELINE_ENTRY = resolve(__dirname, '../load/webhook-baseline.js');
/** The server's per-replica bound on requests in flight (MAX_IN_FLIGHT in libs/webhooks). */
const SERVER_IN_FLIGHT = 256;

/**
 * A receiver on loopback answering 204 at once. It notes the first arrival of each
 * (endpoint, webhook-id) and, for those, the delay from the event's commit (`data.createdAt`, the
 * message's creation inside its one-statement post) to the attempt's arrival.
 */
class Receiver {
  deliveries = 0;
  firsts = new Set<string>();
  lag = new Histogram();
  firstAt = 0;
  lastAt = 0;
  recordLag = false;
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<Receiver> {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const r = new Receiver(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    server.keepAliveTimeout = 30_000;
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const now = Date.now();
        r.deliveries++;
        r.firstAt ||= now;
        r.lastAt = now;
        const key = `${req.url} ${String(req.headers['webhook-id'])}`;
        if (!r.firsts.has(key)) {
          r.firsts.add(key);
          if (r.recordLag) {
            const created = /"createdAt":"([^"]+)"/.exec(Buffer.concat(chunks).toString())?.[1];
            if (created) r.lag.record(now - Date.parse(created));
          }
        }
        res.writeHead(204).end();
      });
    });
    return r;
  }

  reset(): void {
    this.deliveries = 0;
    this.firstAt = 0;
    this.lastAt = 0;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

async function waitFor(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

/**
 * `webhooks`: `--endpoints` webhooks (default 100) of one user subscribed to message.created in
 * `--channels` channels. Throughput: a burst of `--posts` messages, deliveries per second from the
 * first delivery to the last; beside it, a plain signed POST loop to the same receiver at the
 * server's concurrency (its own process). Delay: posts at `--rate` per second for
 * `--latency-seconds`, commit to first attempt p50/p99.
 */
export async function runWebhooks(flags: Flags): Promise<void> {
  const p = {
    endpoints: flags.num('endpoints', 100, 1, 100),
    channels: flags.num('channels', 10, 1, 100),
    posts: flags.num('posts', 300, 1, 100_000),
    postConcurrency: flags.num('post-concurrency', 16, 1, 256),
    rate: flags.num('rate', 5, 1, 1000),
    latencySeconds: flags.num('latency-seconds', 10, 1, 600),
    replicas: flags.num('replicas', 1, 1, 4),
  };
  flags.assertAllUsed();
  const before = uptime();
  process.stdout.write(
    `webhooks: ${p.endpoints} endpoints, ${p.channels} channels, burst of ${p.posts} posts, then ${p.rate} posts/s for ${p.latencySeconds} s\n${before}\n`,
  );
  const receiver = await Receiver.start();
  const redis = await startBenchRedis();
  const stack = await startStack(p.replicas, {
    redisUrl: redis.url,
    env: { CARIOS_WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' },
  }).catch(async (err: unknown) => {
    await redis.stop();
    throw err;
  });
  try {
    const server = stack.servers[0]!.url;
    const [owner] = await withClient(stack.db.url, (db) => insertUsers(db, 1, 'hooks'));
    const channelIds: string[] = [];
    for (let c = 0; c < p.channels; c++) channelIds.push(await createChannel(server, owner!, `hooks-${c}`));
    const urls: string[] = [];
    for (let e = 0; e < p.endpoints; e++) {
      const url = `${receiver.url}/e${e}`;
      await api(server, owner!.token, 'POST', '/api/v1/webhooks', { url, events: ['message.created'] });
      urls.push(url);
    }
    const servers = stack.servers.map((s) => s.url);
    const post = (i: number) =>
      api(
        servers[i % servers.length]!,
        owner!.token,
        'POST',
        `/api/v1/channels/${channelIds[i % p.channels]}/messages`,
        {
          content: `bench message ${i} `.padEnd(120, 'x'),
        },
      );

    // Throughput: a burst, then drain.
    receiver.reset();
    const cpu0 = stack.servers.reduce((t, s) => t + procCpuSeconds(s.pid), 0);
    const expected = p.posts * p.endpoints;
    let next = 0;
    const postStart = Date.now();
    await Promise.all(
      Array.from({ length: p.postConcurrency }, async () => {
        for (let i = next++; i < p.posts; i = next++) await post(i);
      }),
    );
    const postSeconds = (Date.now() - postStart) / 1000;
    const drained = await waitFor(() => receiver.deliveries >= expected, 300_000);
    const burstSeconds = (receiver.lastAt - receiver.firstAt) / 1000;
    const burstDeliveries = receiver.deliveries;
    const burstComplete = receiver.firsts.size >= expected;
    const serverRate = burstDeliveries / burstSeconds;
    const loadAfterBurst = machineLoad();
    const serverCpu = stack.servers.reduce((t, s) => t + procCpuSeconds(s.pid), 0) - cpu0;

    // Commit to first attempt, at a steady rate.
    await sleep(1000);
    receiver.recordLag = true;
    const steadyStart = receiver.deliveries;
    const steadyPosts = p.rate * p.latencySeconds;
    const t0 = Date.now();
    const inflight: Promise<unknown>[] = [];
    for (let i = 0; i < steadyPosts; i++) {
      const at = t0 + (i * 1000) / p.rate;
      if (at > Date.now()) await sleep(at - Date.now());
      inflight.push(post(p.posts + i));
    }
    await Promise.all(inflight);
    await waitFor(() => receiver.deliveries - steadyStart >= steadyPosts * p.endpoints, 120_000);
    receiver.recordLag = false;
    await stack.stopServers();

    // Baseline: the same receiver, a plain signed POST loop, same total and concurrency.
    await sleep(500);
    receiver.reset();
    const baseline = spawnTracked(
      process.execPath,
      { PATH: benchEnv.path, HOME: benchEnv.home },
      [],
      [BASELINE_ENTRY, JSON.stringify({ urls, total: expected, concurrency: SERVER_IN_FLIGHT * p.replicas })],
    );
    const exited = new Promise<number | null>((r) => baseline.proc.once('exit', (c) => r(c)));
    const code = await exited;
    const line = baseline.output().trim().split('\n').at(-1) ?? '{}';
    const base =
      code === 0 ? (JSON.parse(line) as { seconds: number; done: number; failed: number }) : undefined;
    const baseRate = base ? base.done / base.seconds : NaN;
    const after = uptime();

    const rows: Row[] = [
      {
        metric: 'deliveries/s (burst drain)',
        value: serverRate,
        baseline: baseRate,
        ratio: ratio(serverRate, baseRate),
        target: '>= 1,000 and >= 0.5x',
        note: `${burstComplete ? 'all' : 'NOT all'} ${expected} delivered${drained ? '' : ' (timed out)'}; posts took ${postSeconds.toFixed(1)} s; baseline: ${SERVER_IN_FLIGHT * p.replicas} concurrent signed POSTs`,
      },
      {
        metric: 'server CPU ms per delivery (burst)',
        value: (serverCpu * 1000) / Math.max(1, burstDeliveries),
        note: 'the posts included; Postgres not counted',
      },
      {
        metric: 'commit to first attempt p50 (ms)',
        value: receiver.lag.percentile(50),
        note: `${receiver.lag.count} first attempts at ${p.rate * p.endpoints} deliveries/s`,
      },
      { metric: 'commit to first attempt p99 (ms)', value: receiver.lag.percentile(99), target: '<= 250' },
      { metric: 'commit to first attempt max (ms)', value: receiver.lag.max },
    ];
    printTable(
      `webhooks: ${p.endpoints} endpoints, ${p.channels} channels, ${p.replicas} replica(s); load avg after the burst ${loadAfterBurst}, at the end ${machineLoad()}`,
      rows,
    );
    writeResult('webhooks', {
      scenario: 'webhooks',
      at: new Date().toISOString(),
      params: p,
      uptimeBefore: before,
      uptimeAfter: after,
      serverRate,
      baseRate,
      baseline: base,
      lag: receiver.lag.toJSON(),
    });
  } finally {
    await stack.close();
    await redis.stop();
    await receiver.close();
  }
}
