import { execFileSync } from 'node:child_process';
import type { Flags } from '../support/args';
import { withClient } from '../support/database';
import { startRawWsServer, type ServerProcess } from '../support/processes';
import { RedisMeter, startBenchRedis, type BenchRedis } from '../support/redis';
import { machineLoad, printTable, ratio, writeResult, type Cell, type Row } from '../support/report';
import { createChannel, insertMembers, insertUsers } from '../support/seed';
import { startSocketIoClusterOnOwnDatabase, type SocketIoCluster } from '../support/socketio-cluster';
import { startStack, type Stack } from '../support/stack';
import { uptime } from './common';
import { measure, type FanoutParams, type SideResult, type StepResult } from './fanout-measure';

const SIDES = ['server', 'raw', 'socketio'] as const;
type Side = (typeof SIDES)[number];

function ulimitN(): string {
  try {
    return execFileSync('sh', ['-c', 'ulimit -n']).toString().trim();
  } catch {
    return 'unknown';
  }
}

/** Placeholder values for the baselines' sockets (they authenticate nothing). */
const blanks = (n: number) => Array.from({ length: n }, () => '');

/** Our server: `--replicas` processes on one database and the run's Redis; tokens identify. */
async function measureServer(p: FanoutParams, redis: BenchRedis, meter: RedisMeter): Promise<SideResult> {
  let stack: Stack | undefined;
  try {
    stack = await startStack(p.replicas, {
      redisUrl: redis.url,
      inspect: p.forceGc,
      env: { CARIOS_DATABASE_POOL_SIZE: String(p.pool) },
    });
    const st = stack;
    const { members, idle } = await withClient(st.db.url, async (db) => ({
      members: await insertUsers(db, p.members, 'member'),
      idle: await insertUsers(db, p.idle, 'idle'),
    }));
    const poster = members[0]!;
    const channelId = await createChannel(st.servers[0]!.url, poster, 'fanout');
    await withClient(st.db.url, (db) =>
      insertMembers(
        db,
        channelId,
        members.map((m) => m.id),
      ),
    );
    const wsUrl = (i: number) => `ws://127.0.0.1:${st.servers[i % st.servers.length]!.port}/gateway`;
    return await measure(
      {
        label: 'server',
        processes: () => st.servers,
        metricsUrls: st.servers.map((s) => s.url),
        idleUrl: wsUrl,
        memberUrl: wsUrl,
        protocol: 'cariosan',
        usesRedis: true,
        post: {
          baseUrl: st.servers[0]!.url,
          path: `/api/v1/channels/${channelId}/messages`,
          token: poster.token,
        },
        idleTokens: idle.map((u) => u.token),
        memberTokens: members.map((u) => u.token),
      },
      p,
      meter,
    );
  } finally {
    await stack?.close();
  }
}

/** The raw `ws` floor: one process, no auth, no database, no Redis. */
async function measureRaw(p: FanoutParams, meter: RedisMeter): Promise<SideResult> {
  let rawServer: ServerProcess | undefined;
  try {
    rawServer = await startRawWsServer({ inspect: p.forceGc });
    const rs = rawServer;
    const wsBase = `ws://127.0.0.1:${rs.port}`;
    return await measure(
      {
        label: 'raw-ws',
        processes: () => [rs],
        metricsUrls: [rs.url],
        idleUrl: () => `${wsBase}/idle`,
        memberUrl: () => `${wsBase}/member`,
        protocol: 'raw',
        usesRedis: false,
        post: { baseUrl: rs.url, path: '/publish' },
        idleTokens: blanks(p.idle),
        memberTokens: blanks(p.members),
      },
      p,
      meter,
    );
  } finally {
    await rawServer?.stop();
  }
}

/**
 * Socket.IO + Redis adapter + Postgres: `--sio-replicas` processes on the run's Redis and a
 * database of their own; members join the channel's room, posts go to replica 0 and are
 * inserted, then broadcast through the adapter.
 */
async function measureSocketIo(p: FanoutParams, redis: BenchRedis, meter: RedisMeter): Promise<SideResult> {
  let cluster: SocketIoCluster | undefined;
  try {
    cluster = await startSocketIoClusterOnOwnDatabase({
      redisUrl: redis.url,
      replicas: p.sioReplicas,
      poolSize: p.sioPool,
      inspect: p.forceGc,
    });
    const servers = cluster.servers;
    const url = (i: number) => `http://127.0.0.1:${servers[i % servers.length]!.port}/`;
    // Any ids: the baseline's table has no foreign keys. The poster is user 2 in channel 1.
    return await measure(
      {
        label: 'socket.io',
        processes: () => servers,
        metricsUrls: servers.map((s) => s.url),
        idleUrl: url,
        memberUrl: (i) => `${url(i)}?join=1`,
        protocol: 'socketio',
        usesRedis: true,
        post: { baseUrl: servers[0]!.url, path: '/api/v1/channels/1/messages', token: '2' },
        idleTokens: blanks(p.idle),
        memberTokens: blanks(p.members),
      },
      p,
      meter,
    );
  } finally {
    await cluster?.stop();
  }
}

/**
 * `fanout`: idle sockets plus one big channel spread over replicas sharing Redis, posts at rising
 * rates, latency from POST to every recipient; the same against a raw `ws` broadcast server and
 * against Socket.IO with its Redis adapter inserting into Postgres.
 */
export async function runFanout(flags: Flags): Promise<void> {
  const p: FanoutParams = {
    idle: flags.num('idle', 5000, 0, 50_000),
    members: flags.num('members', 1000, 1, 50_000),
    replicas: flags.num('replicas', 2, 1, 8),
    sioReplicas: flags.num('sio-replicas', 2, 1, 8),
    // Sides run one at a time: 2 x 20 for ours, then 2 x 10 for Socket.IO, never all at once.
    pool: flags.num('pool', 20, 1, 30),
    sioPool: flags.num('sio-pool', 10, 1, 30),
    rates: flags.nums('rates', [20, 50, 100, 200], 1, 5000),
    stepMs: flags.num('step', 10, 1, 600) * 1000,
    contentLength: flags.num('content-length', 120, 40, 4000),
    socketProcs: flags.num('socket-procs', 2, 1, 16),
    maxDrainMs: flags.num('max-drain', 20, 1, 300) * 1000,
    forceGc: flags.bool('gc', true),
  };
  const sides = flags.choices('sides', SIDES, [...SIDES]);
  flags.assertAllUsed();

  const before = uptime();
  const fdLimit = ulimitN();
  process.stdout.write(
    `fanout: ${p.idle} idle + ${p.members} member sockets; server ${p.replicas} replica(s), socket.io ${p.sioReplicas}, raw ws 1; ` +
      `rates ${p.rates.join(',')} msg/s x ${p.stepMs / 1000}s, ${p.socketProcs} socket process(es), ulimit -n ${fdLimit}\n${before}\n`,
  );
  const redis = await startBenchRedis();
  process.stdout.write(`redis: ${redis.note}\n`);
  const meter = new RedisMeter(redis);
  const results: Partial<Record<Side, SideResult>> = {};
  try {
    if (sides.includes('server')) results.server = await measureServer(p, redis, meter);
    if (sides.includes('raw')) results.raw = await measureRaw(p, meter);
    if (sides.includes('socketio')) results.socketio = await measureSocketIo(p, redis, meter);
  } finally {
    meter.close();
    await redis.stop();
  }
  const after = uptime();
  const table = printTable(
    `fanout: ${p.idle} idle + ${p.members} members; server ${p.replicas} replica(s), raw ws 1 process, socket.io ${p.sioReplicas} replicas; ` +
      `${p.stepMs / 1000}s steps; load avg ${machineLoad()}`,
    tableRows(p, results, redis),
    ['raw ws', 'socket.io'],
  );
  writeResult('fanout', {
    scenario: 'fanout',
    at: new Date().toISOString(),
    params: { ...p, sides },
    ulimitN: fdLimit,
    uptimeBefore: before,
    uptimeAfter: after,
    redis: redis.note,
    server: results.server,
    rawWs: results.raw,
    socketIo: results.socketio,
    table,
  });
}

function tableRows(p: FanoutParams, r: Partial<Record<Side, SideResult>>, redis: BenchRedis): Row[] {
  const s = r.server;
  const w = r.raw;
  const io = r.socketio;
  /** A figure of each side, with our ratio to each baseline. */
  const trio = (f: (x: SideResult) => number | undefined) => {
    const v = s ? f(s) : undefined;
    const b = w ? f(w) : undefined;
    const x = io ? f(io) : undefined;
    const rat = (a: number | undefined, c: number | undefined): Cell =>
      a === undefined || c === undefined ? undefined : ratio(a, c);
    return { value: v, baseline: b, ratio: rat(v, b), more: [{ baseline: x, ratio: rat(v, x) }] };
  };
  const gc = p.forceGc ? 'after a forced full GC in every process' : 'GC not forced (--gc false)';
  const rows: Row[] = [
    {
      metric: 'RSS per idle socket (KiB)',
      ...trio((x) => x.rssPerIdleSocketKb),
      target: '<= 8 KiB',
      note: `all the side's processes, ${gc}`,
    },
    {
      metric: 'RSS slope, last 80% (KiB)',
      ...trio((x) => x.rssSlopeKb),
      note: 'per idle socket, between 20% and 100% connected',
    },
    {
      metric: 'JS heap per idle socket (KiB)',
      ...trio((x) => x.heapPerIdleSocketKb),
      note: 'V8 heap in use after GC (part of the RSS)',
    },
    {
      metric: 'RSS before sockets (MiB)',
      ...trio((x) => x.rssBeforeKb / 1024),
      note: 'sum over the side’s processes',
    },
    {
      metric: 'sockets open / failed',
      value: s ? `${s.connect.open}/${s.connect.failed}` : undefined,
      baseline: w ? `${w.connect.open}/${w.connect.failed}` : undefined,
      more: [{ baseline: io ? `${io.connect.open}/${io.connect.failed}` : undefined }],
    },
  ];
  const redisNote = redis.owned
    ? 'INFO commandstats deltas over the step and drain; raw ws uses no Redis'
    : 'shared Redis: includes other clients';
  p.rates.forEach((rate, i) => {
    const step = (f: (x: StepResult) => number) => trio((x) => (x.steps[i] ? f(x.steps[i]) : undefined));
    const at = `@${rate}/s`;
    rows.push(
      {
        metric: `${at} recipient p50 (ms)`,
        ...step((x) => x.recipientP50),
        target: rate === 50 ? '<= 15 ms' : undefined,
      },
      {
        metric: `${at} recipient p99 (ms)`,
        ...step((x) => x.recipientP99),
        target: rate === 20 ? '<= 25 ms, below socket.io' : undefined,
      },
      {
        metric: `${at} all-members p99 (ms)`,
        ...step((x) => x.allP99),
        note: 'per message, until the last member had it',
      },
      {
        metric: `${at} last member after answer p99 (ms)`,
        ...step((x) => x.allAfterAnswerP99),
        note: 'same, minus the POST latency: fanout path only',
      },
      {
        metric: `${at} frames/s`,
        ...step((x) => x.framesPerSecond),
        target: rate >= 100 ? '>= 0.8x raw' : undefined,
      },
      {
        metric: `${at} server CPU per frame (us)`,
        ...step((x) => x.serverCpuPerFrameUs),
        target: '<= 15 us',
        note: 'server processes, step + drain, incl. handling the POSTs',
      },
      {
        metric: `${at} Redis commands per frame`,
        ...step((x) => x.redisCommandsPerFrame),
        target: '<= 0.2',
        note: redisNote,
      },
      {
        metric: `${at} Redis CPU per frame (us)`,
        ...step((x) => x.redisCpuPerFrameUs),
        note: redis.owned ? 'the run’s redis-server' : 'n/a: Redis not owned by the run',
      },
      {
        metric: `${at} delivered`,
        value: s?.steps[i] ? `${s.steps[i].delivered}/${s.steps[i].expected}` : undefined,
        baseline: w?.steps[i] ? `${w.steps[i].delivered}/${w.steps[i].expected}` : undefined,
        more: [{ baseline: io?.steps[i] ? `${io.steps[i].delivered}/${io.steps[i].expected}` : undefined }],
        note: 'frames of 2xx-answered posts / posts x members',
      },
      {
        metric: `${at} duplicates / closed sockets`,
        value: s?.steps[i] ? `${s.steps[i].duplicates} / ${s.steps[i].closedSockets}` : undefined,
        baseline: w?.steps[i] ? `${w.steps[i].duplicates} / ${w.steps[i].closedSockets}` : undefined,
        more: [
          { baseline: io?.steps[i] ? `${io.steps[i].duplicates} / ${io.steps[i].closedSockets}` : undefined },
        ],
        note: 'closed: sockets lost so far (e.g. cut as slow consumers)',
      },
      { metric: `${at} POST p99 (ms)`, ...step((x) => x.postP99) },
      { metric: `${at} event-loop p99 (ms)`, ...step((x) => x.eventLoopP99Ms), note: 'max over processes' },
      { metric: `${at} server CPU (cores)`, ...step((x) => x.serverCpuCores) },
      { metric: `${at} load-gen CPU (s)`, ...step((x) => x.loadCpuSeconds) },
    );
  });
  return rows;
}
