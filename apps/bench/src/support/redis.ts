import { execFileSync } from 'node:child_process';
import Redis from 'ioredis';
import { benchEnv } from './env';
import { freePort, procCpuSeconds, sleep, spawnTracked, stopper } from './processes';

/** The Redis a bench run talks to, and whether the run owns it (then its counters are the run's alone). */
export interface BenchRedis {
  url: string;
  /** True for a redis-server started by this run: INFO commandstats and its CPU count only the run. */
  owned: boolean;
  /** The redis-server process when owned (for its CPU time). */
  pid?: number;
  note: string;
  stop: () => Promise<void>;
}

function redisServerBinary(): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'command -v redis-server']).toString().trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * A private `redis-server` on a free loopback port, without persistence, so the run's Redis
 * counters are its own; `CARIOS_BENCH_REDIS_URL` uses that Redis instead (shared: its counters
 * include other clients). Without either, falls back to redis://127.0.0.1:6379 with a note.
 */
export async function startBenchRedis(): Promise<BenchRedis> {
  if (benchEnv.redisUrlOverride)
    return {
      url: benchEnv.redisUrlOverride,
      owned: false,
      note: `CARIOS_BENCH_REDIS_URL=${benchEnv.redisUrlOverride} (not owned by the run: its command counts include other clients)`,
      stop: async () => {},
    };
  const binary = redisServerBinary();
  if (!binary)
    return {
      url: benchEnv.redisUrl,
      owned: false,
      note: `redis-server not found; using ${benchEnv.redisUrl} (shared: its command counts include other clients)`,
      stop: async () => {},
    };
  const port = await freePort();
  const { proc, output } = spawnTracked(
    binary,
    { PATH: benchEnv.path },
    [],
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--maxclients',
      '20000',
      '--loglevel',
      'warning',
    ],
  );
  const url = `redis://127.0.0.1:${port}`;
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  client.on('error', () => {});
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`redis-server exited with ${proc.exitCode}:\n${output()}`);
    try {
      await client.connect();
      await client.ping();
      break;
    } catch {
      if (Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new Error(`redis-server did not answer within 15 s:\n${output()}`);
      }
      client.disconnect();
      await sleep(100);
    }
  }
  client.disconnect();
  return {
    url,
    owned: true,
    pid: proc.pid!,
    note: `private redis-server on port ${port}, started for this run`,
    stop: stopper(proc),
  };
}

/** Calls and microseconds per command, from `INFO commandstats`. */
export type CommandStats = Map<string, { calls: number; usec: number }>;

/** Parses `INFO commandstats` (lines `cmdstat_get:calls=3,usec=12,...`). */
export function parseCommandStats(info: string): CommandStats {
  const out: CommandStats = new Map();
  for (const line of info.split(/\r?\n/)) {
    const m = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line);
    if (m) out.set(m[1]!, { calls: Number(m[2]), usec: Number(m[3]) });
  }
  return out;
}

/**
 * Commands executed between two readings, by command, without the readings' own `info`
 * calls. Counters only grow; a command absent from `before` started at 0.
 */
export function commandStatsDelta(before: CommandStats, after: CommandStats): CommandStats {
  const out: CommandStats = new Map();
  for (const [cmd, a] of after) {
    if (cmd === 'info') continue;
    const b = before.get(cmd) ?? { calls: 0, usec: 0 };
    const calls = a.calls - b.calls;
    if (calls > 0) out.set(cmd, { calls, usec: a.usec - b.usec });
  }
  return out;
}

export function totalCalls(stats: CommandStats): number {
  let n = 0;
  for (const s of stats.values()) n += s.calls;
  return n;
}

/** Reads a Redis's command counters and (when the run owns it) its CPU, for per-step deltas. */
export class RedisMeter {
  private readonly client: Redis;

  constructor(private readonly redis: BenchRedis) {
    this.client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    this.client.on('error', () => {});
  }

  async read(): Promise<{ stats: CommandStats; cpuSeconds: number }> {
    if (this.client.status === 'wait') await this.client.connect();
    const info = await this.client.info('commandstats');
    const cpuSeconds = this.redis.pid !== undefined ? procCpuSeconds(this.redis.pid) : NaN;
    return { stats: parseCommandStats(info), cpuSeconds };
  }

  close(): void {
    this.client.disconnect();
  }
}
