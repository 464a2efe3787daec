import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBenchDatabase, type BenchDatabase } from './database';
import { benchEnv } from './env';
import { onInterrupt, startServer, type ServerProcess, type StartOptions } from './processes';

/** Rate limits out of the way: a benchmark measures the server, not its limiter's refusals. */
export const UNLIMITED: Record<string, string> = {
  CARIOS_RATE_LIMIT_REQUESTS: '1000000',
  CARIOS_RATE_LIMIT_ANONYMOUS: '1000000',
  CARIOS_RATE_LIMIT_LOGIN: '1000000',
  CARIOS_RATE_LIMIT_LOGIN_ACCOUNT: '1000000',
  CARIOS_RATE_LIMIT_POSTS: '1000000',
  // Thousands of sockets from one address and a few users.
  CARIOS_GATEWAY_MAX_SESSIONS_PER_USER: '10000',
  CARIOS_GATEWAY_MAX_UNIDENTIFIED_PER_IP: '1000000',
};

export interface Stack {
  db: BenchDatabase;
  env: Record<string, string>;
  servers: ServerProcess[];
  start: () => Promise<ServerProcess>;
  stopServers: () => Promise<void>;
  close: () => Promise<void>;
}

/** Deletes the run's Redis keys (gateway sessions, presence, rate limits); they would expire anyway. */
async function dropRedisPrefix(redisUrl: string, prefix: string): Promise<void> {
  // No reconnecting: after an interrupt the run's private Redis is already gone.
  const redis = new Redis(redisUrl, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  });
  redis.on('error', () => {});
  try {
    await redis.connect();
    let cursor = '0';
    // Bounded: SCAN visits every key once; the cap only guards against a misbehaving server.
    for (let round = 0; round < 100_000; round++) {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length) await redis.unlink(...keys);
      cursor = next;
      if (cursor === '0') break;
    }
  } catch {
    /* best effort */
  } finally {
    redis.disconnect();
  }
}

/**
 * Prints the tail of what the servers logged (warn and above), so a 5xx in the table comes
 * with its cause. Silent when they logged nothing.
 */
function printServerLogs(servers: ServerProcess[]): void {
  for (const [i, s] of servers.entries()) {
    // The inspector's banner (when started with `inspect`) is not news.
    const lines = s
      .output()
      .split('\n')
      .filter(
        (l) =>
          l.trim() && !/^(Debugger listening on|For help, see:|Debugger attached|Debugger ending)/.test(l),
      );
    if (!lines.length) continue;
    process.stdout.write(`\nserver ${i} (pid ${s.pid}) logged ${lines.length} line(s); the last ones:\n`);
    for (const line of lines.slice(-8)) process.stdout.write(`  ${line.slice(0, 600)}\n`);
  }
}

export interface StackOptions extends StartOptions {
  /** Default: CARIOS_BENCH_REDIS_URL or redis://127.0.0.1:6379 (scenarios pass their BenchRedis). */
  redisUrl?: string;
  /** Extra server environment, e.g. CARIOS_DATABASE_POOL_SIZE. */
  env?: Record<string, string>;
  /** Rewrites the database URL the servers get (e.g. to point them at a counting proxy). */
  serverDatabaseUrl?: (url: string) => string;
}

/**
 * A fresh database, a unique Redis prefix and `replicas` built servers on them. The rate limit
 * is lifted (the bench is one user hammering one route); everything else is the defaults.
 */
export async function startStack(replicas: number, opts: StackOptions = {}): Promise<Stack> {
  const db = await createBenchDatabase();
  const dataDir = mkdtempSync(join(tmpdir(), 'cariosan-bench-'));
  const redisUrl = opts.redisUrl ?? benchEnv.redisUrl;
  const env: Record<string, string> = {
    CARIOS_DATABASE_URL: opts.serverDatabaseUrl ? opts.serverDatabaseUrl(db.url) : db.url,
    CARIOS_REDIS_URL: redisUrl,
    CARIOS_REDIS_PREFIX: `cariosan-bench-${randomBytes(4).toString('hex')}:`,
    CARIOS_DATA_DIR: dataDir,
    ...UNLIMITED,
    ...opts.env,
  };
  const servers: ServerProcess[] = [];
  const everStarted: ServerProcess[] = [];
  const forget = onInterrupt(async () => {
    rmSync(dataDir, { recursive: true, force: true });
    await db.drop();
  });
  const stack: Stack = {
    db,
    env,
    servers,
    start: async () => {
      const s = await startServer(env, { inspect: opts.inspect });
      servers.push(s);
      everStarted.push(s);
      return s;
    },
    stopServers: async () => {
      await Promise.all(servers.splice(0).map((s) => s.stop()));
    },
    close: async () => {
      await stack.stopServers();
      printServerLogs(everStarted);
      await db.drop();
      await dropRedisPrefix(redisUrl, env.CARIOS_REDIS_PREFIX!);
      forget();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  try {
    // One at a time: the first applies the migrations, the others find them applied.
    for (let i = 0; i < replicas; i++) await stack.start();
  } catch (err) {
    await stack.close();
    throw err;
  }
  return stack;
}
