import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBenchDatabase, type BenchDatabase } from './database';
import { benchEnv } from './env';
import { onInterrupt, startServer, type ServerProcess } from './processes';

export interface Stack {
  db: BenchDatabase;
  env: Record<string, string>;
  servers: ServerProcess[];
  start: () => Promise<ServerProcess>;
  stopServers: () => Promise<void>;
  close: () => Promise<void>;
}

/**
 * A fresh database, a unique Redis prefix and `replicas` built servers on them. The rate limit
 * is lifted (the bench is one user hammering one route); everything else is the defaults.
 */
export async function startStack(replicas: number): Promise<Stack> {
  const db = await createBenchDatabase();
  const dataDir = mkdtempSync(join(tmpdir(), 'cariosan-bench-'));
  const env: Record<string, string> = {
    CARIOS_DATABASE_URL: db.url,
    CARIOS_REDIS_URL: benchEnv.redisUrl,
    CARIOS_REDIS_PREFIX: `cariosan-bench-${randomBytes(4).toString('hex')}:`,
    CARIOS_DATA_DIR: dataDir,
    CARIOS_RATE_LIMIT_REQUESTS: '1000000',
  };
  const servers: ServerProcess[] = [];
  const forget = onInterrupt(() => db.drop());
  const stack: Stack = {
    db,
    env,
    servers,
    start: async () => {
      const s = await startServer(env);
      servers.push(s);
      return s;
    },
    stopServers: async () => {
      await Promise.all(servers.splice(0).map((s) => s.stop()));
    },
    close: async () => {
      await stack.stopServers();
      await db.drop();
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
