import type { Flags } from '../support/args';
import { withClient } from '../support/database';
import { machineLoad, printTable, ratio, writeResult, type Row } from '../support/report';
import { startBenchRedis } from '../support/redis';
import { createChannel, insertUsers, api, type SeededUser } from '../support/seed';
import { startSocketIoCluster } from '../support/socketio-cluster';
import { startStack } from '../support/stack';
import { SOCKET_IO_INSERT_SQL } from '../baselines/socketio-schema';
import { failuresText, runClosedLoopPhase, shareOf, uptime, type MergedLoad } from './common';
import { CHANNEL_LOCK_SQL, INSERT_MESSAGE_SQL, INSERT_OUTBOX_SQL } from './sql';

type Phase = MergedLoad & { watchedCpuSeconds: number; postgresCpuSeconds: number };

interface PostParams {
  durationMs: number;
  warmupMs: number;
  clients: number;
  channelCounts: number[];
  contentLength: number;
  procs: number;
  poolSize: number;
  baselineLock: boolean;
  replicas: number;
  sioReplicas: number;
  sioPool: number;
  socketIo: boolean;
  halfRate: boolean;
}

/** The closed-loop phase, and the open-loop one at half its throughput (when `--half-rate`). */
interface Measured {
  closed: Phase;
  half?: Phase;
}

/** Half the throughput a side saturated at: where its latency under load is read. */
const halfOf = (ph: Phase) => Math.max(1, Math.floor(ph.perSecond / 2));

/** The targets per channel count. */
const TARGETS: Record<number, string> = {
  1: '>= 2,500 and >= 0.6x raw',
  64: '>= 4,000 and >= 0.6x raw',
};

/** Client i posts to channel i % channels (all to one channel when channels = 1). */
function channelOfClients(p: PostParams, channels: number, channelIds: string[]): string[] {
  return Array.from({ length: p.clients }, (_, i) => channelIds[i % channels]!);
}

/**
 * `post`: closed-loop POST /channels/:id/messages from `--clients` users, for each channel count
 * in `--channels` (default 1 and 64), against (a) our server, (b) the same rows written with raw
 * `pg` from the load process, and (c) the Socket.IO + Redis adapter + Postgres baseline over HTTP.
 * Each side runs alone on the machine (the others stopped).
 */
export async function runPost(flags: Flags): Promise<void> {
  const p: PostParams = {
    durationMs: flags.num('duration', 15, 1, 600) * 1000,
    warmupMs: flags.num('warmup', 3, 0, 60) * 1000,
    clients: flags.num('clients', 64, 1, 1024),
    channelCounts: flags.nums('channels', [1, 64], 1, 1024),
    contentLength: flags.num('content-length', 120, 40, 4000),
    procs: flags.num('load-procs', 1, 1, 8),
    poolSize: flags.num('pool', 20, 1, 60),
    baselineLock: flags.bool('baseline-lock', true),
    replicas: flags.num('replicas', 1, 1, 4),
    sioReplicas: flags.num('sio-replicas', 2, 1, 4),
    sioPool: flags.num('sio-pool', 10, 1, 30),
    socketIo: flags.bool('socketio', true),
    halfRate: flags.bool('half-rate', true),
  };
  flags.assertAllUsed();
  const maxChannels = Math.max(...p.channelCounts);

  const before = uptime();
  process.stdout.write(
    `post: ${p.clients} clients, channels ${p.channelCounts.join(' and ')}, ${p.contentLength}-char messages, ` +
      `${p.durationMs / 1000}s (+${p.warmupMs / 1000}s warmup) per phase\n${before}\n`,
  );
  const redis = await startBenchRedis();
  process.stdout.write(`redis: ${redis.note}\n`);
  const stack = await startStack(p.replicas, {
    redisUrl: redis.url,
    env: { CARIOS_DATABASE_POOL_SIZE: String(Math.max(1, Math.round(p.poolSize / p.replicas))) },
  }).catch(async (err: unknown) => {
    await redis.stop();
    throw err;
  });
  try {
    const server = stack.servers[0]!;
    const users = await withClient(stack.db.url, (db) => insertUsers(db, p.clients, 'bench'));
    const channelIds: string[] = [];
    for (let c = 0; c < maxChannels; c++)
      channelIds.push(await createChannel(server.url, users[c % users.length]!, `bench-${c}`));
    // Every user is a member of the channel it posts to under every channel count.
    for (let i = 0; i < users.length; i++) {
      const mine = new Set(p.channelCounts.map((n) => i % n));
      for (const c of mine)
        if (c % users.length !== i)
          await api(server.url, users[i]!.token, 'PUT', `/api/v1/channels/${channelIds[c]}/members/@me`);
    }
    const serverUrls = stack.servers.map((s) => s.url);
    const serverPids = stack.servers.map((s) => s.pid);

    // Each channel count of each side starts right after a CHECKPOINT: none inherits another's dirty pages.
    const srv = new Map<number, Measured>();
    for (const n of p.channelCounts) {
      await withClient(stack.db.url, (db) => db.query('CHECKPOINT'));
      srv.set(
        n,
        await measured(p, `server, ${n} channel(s)`, (rate) =>
          httpPhase(p, n, channelIds, users, serverUrls, serverPids, stack.db.url, 'token', rate),
        ),
      );
    }
    const stored = await countRows(stack.db.url, 'messages');
    // Each baseline runs with the server stopped, so it has the machine to itself as the server had.
    await stack.stopServers();

    const raw = new Map<number, Measured>();
    for (const n of p.channelCounts) {
      await withClient(stack.db.url, (db) => db.query('CHECKPOINT'));
      raw.set(
        n,
        await measured(p, `raw pg baseline, ${n} channel(s)`, (rate) =>
          rawPhase(p, n, channelIds, users, stack.db.url, rate),
        ),
      );
    }

    const sio = new Map<number, Measured>();
    let sioStored = NaN;
    if (p.socketIo) {
      const cluster = await startSocketIoCluster({
        databaseUrl: stack.db.url,
        redisUrl: redis.url,
        replicas: p.sioReplicas,
        poolSize: p.sioPool,
      });
      try {
        for (const n of p.channelCounts) {
          await withClient(stack.db.url, (db) => db.query('CHECKPOINT'));
          const urls = cluster.servers.map((s) => s.url);
          const pids = cluster.servers.map((s) => s.pid);
          sio.set(
            n,
            await measured(p, `socket.io baseline, ${n} channel(s)`, (rate) =>
              httpPhase(p, n, channelIds, users, urls, pids, stack.db.url, 'user-id', rate),
            ),
          );
        }
      } finally {
        await cluster.stop();
      }
      sioStored = await countRows(stack.db.url, 'sio_messages');
    }
    const after = uptime();

    const rows = p.channelCounts.flatMap((n) => tableRows(p, n, srv.get(n)!, raw.get(n)!, sio.get(n)));
    rows.push({
      metric: 'rows stored',
      value: stored,
      more: [{ baseline: p.socketIo ? sioStored : undefined }],
      note: 'messages after the server phases; sio_messages after the socket.io phases',
    });
    const table = printTable(
      `post: ${p.clients} clients; server ${p.replicas} replica(s), raw pg pool ${p.poolSize} ` +
        `${p.baselineLock ? 'with' : 'without'} channel lock, socket.io ${p.sioReplicas} replicas x pool ${p.sioPool}; ` +
        `load avg ${machineLoad()}`,
      rows,
      ['raw pg', 'socket.io'],
    );
    for (const n of p.channelCounts) {
      const first = (label: string, m: Measured | undefined) => {
        for (const [kind, ph] of [
          ['closed loop', m?.closed],
          ['half rate', m?.half],
        ] as const)
          if (ph?.firstFailure)
            process.stdout.write(`first ${label} failure (${n} ch, ${kind}): ${ph.firstFailure}\n`);
      };
      first('server', srv.get(n));
      first('raw pg', raw.get(n));
      first('socket.io', sio.get(n));
    }
    const phaseJson = (ph: Phase | undefined) => ph && { ...ph, histogram: ph.histogram.summary() };
    const json = (m: Map<number, Measured>) =>
      Object.fromEntries(
        [...m].map(([n, x]) => [n, { closedLoop: phaseJson(x.closed), halfRate: phaseJson(x.half) }]),
      );
    writeResult('post', {
      scenario: 'post',
      at: new Date().toISOString(),
      params: p,
      uptimeBefore: before,
      uptimeAfter: after,
      redis: redis.note,
      baselineSql: {
        rawPg: [
          'BEGIN',
          ...(p.baselineLock ? [CHANNEL_LOCK_SQL] : []),
          INSERT_MESSAGE_SQL,
          INSERT_OUTBOX_SQL,
          'COMMIT',
        ],
        socketIo: SOCKET_IO_INSERT_SQL,
      },
      server: json(srv),
      rawPg: json(raw),
      socketIo: json(sio),
      storedMessages: { server: stored, socketIo: sioStored },
      ratios: Object.fromEntries(
        p.channelCounts.map((n) => [
          n,
          {
            throughputVsRaw: srv.get(n)!.closed.perSecond / raw.get(n)!.closed.perSecond,
            throughputVsSocketIo: sio.get(n)
              ? srv.get(n)!.closed.perSecond / sio.get(n)!.closed.perSecond
              : null,
          },
        ]),
      ),
      table,
    });
  } finally {
    await stack.close();
    await redis.stop();
  }
}

/**
 * One closed-loop HTTP phase against `urls` (client i to urls[i % length]): our server with
 * real tokens, or the Socket.IO baseline whose bearer "token" is the author's id.
 */
function httpPhase(
  p: PostParams,
  channels: number,
  channelIds: string[],
  users: SeededUser[],
  urls: string[],
  pids: number[],
  databaseUrl: string,
  auth: 'token' | 'user-id',
  rate?: number,
): Promise<Phase> {
  const perClient = channelOfClients(p, channels, channelIds);
  return runClosedLoopPhase(
    p.procs,
    (k) => ({
      kind: 'http',
      baseUrl: urls[0]!,
      // Client j of process k is client k + j*procs overall: spread over the replicas by that.
      baseUrls: shareOf(
        users.map((_, i) => urls[i % urls.length]!),
        k,
        p.procs,
      ),
      mode: 'post',
      rate: rate === undefined ? undefined : rate / p.procs,
      tokens: shareOf(users, k, p.procs).map((u) => (auth === 'token' ? u.token : u.id)),
      channelIds: shareOf(perClient, k, p.procs),
      contentLength: p.contentLength,
      warmupMs: p.warmupMs,
      durationMs: p.durationMs,
    }),
    p.warmupMs,
    p.durationMs,
    pids,
    databaseUrl,
  );
}

/** The same rows through raw `pg` from the load process (sql.ts), at the same concurrency. */
function rawPhase(
  p: PostParams,
  channels: number,
  channelIds: string[],
  users: SeededUser[],
  databaseUrl: string,
  rate?: number,
): Promise<Phase> {
  const perClient = channelOfClients(p, channels, channelIds);
  return runClosedLoopPhase(
    p.procs,
    (k) => ({
      kind: 'pg',
      databaseUrl,
      mode: 'post',
      rate: rate === undefined ? undefined : rate / p.procs,
      poolSize: Math.max(1, Math.round(p.poolSize / p.procs)),
      concurrency: shareOf(users, k, p.procs).length,
      channelIds: shareOf(perClient, k, p.procs),
      authorIds: shareOf(users, k, p.procs).map((u) => u.id),
      lock: p.baselineLock,
      contentLength: p.contentLength,
      warmupMs: p.warmupMs,
      durationMs: p.durationMs,
    }),
    p.warmupMs,
    p.durationMs,
    [],
    databaseUrl,
  );
}

/** The closed-loop phase, then (with `--half-rate`) an open-loop one at half its throughput. */
async function measured(
  p: PostParams,
  label: string,
  phase: (rate?: number) => Promise<Phase>,
): Promise<Measured> {
  process.stdout.write(`${label}: closed loop...\n`);
  const closed = await phase();
  if (!p.halfRate || closed.completed === 0) return { closed };
  process.stdout.write(`${label}: open loop at ${halfOf(closed)} msg/s (half)...\n`);
  return { closed, half: await phase(halfOf(closed)) };
}

async function countRows(databaseUrl: string, table: 'messages' | 'sio_messages'): Promise<number> {
  return withClient(databaseUrl, async (db) => {
    const { rows } = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table}`);
    return Number(rows[0]!.n);
  });
}

/** The rows of one channel count: each figure beside raw pg and Socket.IO, with ratios. */
function tableRows(p: PostParams, n: number, ms: Measured, mr: Measured, mi: Measured | undefined): Row[] {
  const seconds = p.durationMs / 1000;
  const label = `${n} ch`;
  /** A figure of each side (undefined where the side or phase did not run), with our ratios. */
  const trio = (
    f: (ph: Phase) => number | undefined,
    pick: (m: Measured) => Phase | undefined = (m) => m.closed,
  ) => {
    const at = (m: Measured | undefined) => {
      const ph = m && pick(m);
      return ph ? f(ph) : undefined;
    };
    const [v, b, x] = [at(ms), at(mr), at(mi)];
    const rat = (c: number | undefined) => (v === undefined || c === undefined ? undefined : ratio(v, c));
    return { value: v, baseline: b, ratio: rat(b), more: [{ baseline: x, ratio: rat(x) }] };
  };
  const failures = (pick: (m: Measured) => Phase | undefined) => {
    const f = (m: Measured | undefined) => {
      const ph = m && pick(m);
      return ph ? failuresText(ph.failures) : undefined;
    };
    return { value: f(ms), baseline: f(mr), more: [{ baseline: f(mi) }] };
  };
  const cpuPerMsg = (ph: Phase) => (ph.watchedCpuSeconds * 1000) / ph.completed;
  const pgPerMsg = (ph: Phase) => (ph.postgresCpuSeconds * 1000) / ph.completed;
  const half = (m: Measured) => m.half;
  const rows: Row[] = [
    { metric: `${label}: msg/s`, ...trio((ph) => ph.perSecond), target: TARGETS[n] },
    { metric: `${label}: p50 (ms)`, ...trio((ph) => ph.histogram.percentile(50)) },
    { metric: `${label}: p99 (ms)`, ...trio((ph) => ph.histogram.percentile(99)) },
    { metric: `${label}: max (ms)`, ...trio((ph) => ph.histogram.summary().max) },
    { metric: `${label}: failures`, ...failures((m) => m.closed) },
    {
      metric: `${label}: server CPU per msg (ms)`,
      ...trio((ph) => (ph.watchedCpuSeconds > 0 ? cpuPerMsg(ph) : undefined)),
      target: n === p.channelCounts[0] ? '<= 0.4 ms' : undefined,
      note: 'server process(es) CPU / completed; raw pg has no server',
    },
    {
      metric: `${label}: Postgres CPU per msg (ms)`,
      ...trio(pgPerMsg),
      note: 'backends of the bench database',
    },
    {
      metric: `${label}: load-gen CPU (s)`,
      ...trio((ph) => ph.loadCpuSeconds),
      ratio: undefined,
      more: [{ baseline: mi?.closed.loadCpuSeconds }],
      note: `over ${seconds}s; raw pg runs its statements in the load process`,
    },
  ];
  if (!p.halfRate) return rows;
  const offered = [ms, mr, mi].map((m) => (m ? halfOf(m.closed).toLocaleString('en-US') : '-')).join(' / ');
  rows.push(
    {
      metric: `${label}: p50 at half rate (ms)`,
      ...trio((ph) => ph.histogram.percentile(50), half),
      note: `open loop at half each side's msg/s: ${offered}`,
    },
    {
      metric: `${label}: p99 at half rate (ms)`,
      ...trio((ph) => ph.histogram.percentile(99), half),
      target: '<= 20 ms',
      note: 'counted from each post’s due time (open loop)',
    },
    { metric: `${label}: failures at half rate`, ...failures(half) },
    {
      metric: `${label}: server CPU per msg at half rate (ms)`,
      ...trio((ph) => (ph.watchedCpuSeconds > 0 ? cpuPerMsg(ph) : undefined), half),
    },
  );
  return rows;
}
