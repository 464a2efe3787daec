import type { Flags } from '../support/args';
import { startCountingPgProxy, type CountingPgProxy } from '../support/pg-proxy';
import { procCpuSeconds, rssKb, sleep, type ServerProcess } from '../support/processes';
import {
  commandStatsDelta,
  RedisMeter,
  startBenchRedis,
  totalCalls,
  type BenchRedis,
} from '../support/redis';
import { machineLoad, printTable, ratio, writeResult, type Row } from '../support/report';
import { startSocketIoClusterOnOwnDatabase, type SocketIoCluster } from '../support/socketio-cluster';
import { benchEnv } from '../support/env';
import { startStack, type Stack } from '../support/stack';
import { uptime } from './common';

interface IdleParams {
  replicas: number;
  settleMs: number;
  windowMs: number;
}

/** What one side does with nothing to do, per replica. */
interface IdleResult {
  replicas: number;
  /** RSS per replica `settle` after the last replica was ready (KiB). */
  rssKb: number[];
  statementsPerReplicaPerSecond: number;
  redisCommandsPerReplicaPerSecond: number;
  /** Redis commands of the window by name. */
  redisCommands: Record<string, number>;
  cpuMsPerReplicaPerSecond: number;
}

/**
 * Waits `settle` after the replicas are up, then counts over `window`: statements each side sends
 * to Postgres (through a counting proxy: every simple Query and extended Execute), Redis commands
 * (INFO commandstats of the run's own redis-server), CPU; RSS is read at the window's start.
 */
async function observe(
  p: IdleParams,
  processes: ServerProcess[],
  proxy: CountingPgProxy,
  meter: RedisMeter,
): Promise<IdleResult> {
  await sleep(p.settleMs);
  const rss = processes.map((s) => rssKb(s.pid));
  const cpu = () => processes.reduce((a, s) => a + procCpuSeconds(s.pid), 0);
  const statements0 = proxy.statements();
  const redis0 = await meter.read();
  const cpu0 = cpu();
  await sleep(p.windowMs);
  const seconds = p.windowMs / 1000;
  const commands = commandStatsDelta(redis0.stats, (await meter.read()).stats);
  const n = processes.length;
  return {
    replicas: n,
    rssKb: rss,
    statementsPerReplicaPerSecond: (proxy.statements() - statements0) / n / seconds,
    redisCommandsPerReplicaPerSecond: totalCalls(commands) / n / seconds,
    redisCommands: Object.fromEntries([...commands].map(([k, v]) => [k, v.calls])),
    cpuMsPerReplicaPerSecond: ((cpu() - cpu0) * 1000) / n / seconds,
  };
}

async function idleServer(p: IdleParams, redis: BenchRedis, meter: RedisMeter): Promise<IdleResult> {
  const proxy = await startCountingPgProxy(benchEnv.databaseUrl);
  let stack: Stack | undefined;
  try {
    stack = await startStack(p.replicas, { redisUrl: redis.url, serverDatabaseUrl: proxy.via });
    process.stdout.write(
      `server: ${p.replicas} replica(s) ready; idle for ${(p.settleMs + p.windowMs) / 1000}s...\n`,
    );
    return await observe(p, stack.servers, proxy, meter);
  } finally {
    await stack?.close();
    await proxy.close();
  }
}

async function idleSocketIo(p: IdleParams, redis: BenchRedis, meter: RedisMeter): Promise<IdleResult> {
  const proxy = await startCountingPgProxy(benchEnv.databaseUrl);
  let cluster: SocketIoCluster | undefined;
  try {
    cluster = await startSocketIoClusterOnOwnDatabase({
      redisUrl: redis.url,
      replicas: p.replicas,
      poolSize: 10,
      serverDatabaseUrl: proxy.via,
    });
    process.stdout.write(
      `socket.io: ${p.replicas} replica(s) ready; idle for ${(p.settleMs + p.windowMs) / 1000}s...\n`,
    );
    return await observe(p, cluster.servers, proxy, meter);
  } finally {
    await cluster?.stop();
    await proxy.close();
  }
}

/**
 * `idle`: replicas on Postgres and Redis with no client at all. What each keeps doing: statements
 * to Postgres and commands to Redis per replica per second, CPU, and RSS `--settle` seconds after
 * boot; beside the Socket.IO baseline's replicas doing the same nothing.
 */
export async function runIdle(flags: Flags): Promise<void> {
  const p: IdleParams = {
    replicas: flags.num('replicas', 2, 1, 8),
    settleMs: flags.num('settle', 60, 0, 600) * 1000,
    windowMs: flags.num('window', 30, 1, 600) * 1000,
  };
  const socketIo = flags.bool('socketio', true);
  flags.assertAllUsed();

  const before = uptime();
  process.stdout.write(
    `idle: ${p.replicas} replica(s) per side, RSS ${p.settleMs / 1000}s after boot, counts over the next ${p.windowMs / 1000}s\n${before}\n`,
  );
  const redis = await startBenchRedis();
  process.stdout.write(`redis: ${redis.note}\n`);
  const meter = new RedisMeter(redis);
  let server: IdleResult | undefined;
  let sio: IdleResult | undefined;
  try {
    server = await idleServer(p, redis, meter);
    if (socketIo) sio = await idleSocketIo(p, redis, meter);
  } finally {
    meter.close();
    await redis.stop();
  }
  const after = uptime();
  const both = (f: (r: IdleResult) => number) => {
    const v = f(server);
    const b = sio ? f(sio) : undefined;
    return { value: v, baseline: b, ratio: b === undefined ? undefined : ratio(v, b) };
  };
  const maxMiB = (r: IdleResult) => Math.max(...r.rssKb) / 1024;
  const rows: Row[] = [
    {
      metric: 'Postgres statements per replica per second',
      ...both((r) => r.statementsPerReplicaPerSecond),
      target: '<= 1',
      note: 'simple Query + extended Execute messages, through a counting proxy',
    },
    {
      metric: `RSS per replica ${p.settleMs / 1000}s after boot (MiB)`,
      ...both(maxMiB),
      target: '<= 70 MB',
      note: 'the largest replica',
    },
    {
      metric: 'Redis commands per replica per second',
      ...both((r) => r.redisCommandsPerReplicaPerSecond),
      note: redis.owned
        ? 'INFO commandstats of the run’s redis-server'
        : 'shared Redis: includes other clients',
    },
    { metric: 'CPU per replica (ms/s)', ...both((r) => r.cpuMsPerReplicaPerSecond) },
  ];
  const table = printTable(
    `idle: ${p.replicas} replica(s) on Postgres + Redis, no clients; window ${p.windowMs / 1000}s; load avg ${machineLoad()}`,
    rows,
    ['socket.io'],
  );
  writeResult('idle', {
    scenario: 'idle',
    at: new Date().toISOString(),
    params: p,
    uptimeBefore: before,
    uptimeAfter: after,
    redis: redis.note,
    server,
    socketIo: sio,
    table,
  });
}
