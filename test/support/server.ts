import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createTestDatabase } from './database';
import { testServices } from './env';

/** The built server; CARIOS_TEST_SERVER_ENTRY points at another build (e.g. one out of reach of a colleague's rebuild). */
export const SERVER_ENTRY =
  process.env.CARIOS_TEST_SERVER_ENTRY || resolve(__dirname, '../../dist/apps/server/src/main.js');

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? res(addr.port) : rej(new Error('no port'))));
    });
  });
}

export interface ServerProcess {
  url: string;
  port: number;
  proc: ChildProcess;
  /** Everything the process printed so far (stdout and stderr). */
  output: () => string;
  /** Sends the signal and waits for the exit; resolves with the exit code. */
  stop: (signal?: NodeJS.Signals) => Promise<number | null>;
  exited: Promise<number | null>;
}

export interface StartOptions {
  env?: Record<string, string>;
  /** Wait for /readyz to answer 200 (default true). */
  waitReady?: boolean;
  readyTimeoutMs?: number;
}

/** Starts the built server as a child process on a free loopback port. */
export async function startServer(opts: StartOptions = {}): Promise<ServerProcess> {
  const port = await freePort();
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    CARIOS_PORT: String(port),
    CARIOS_HOST: '127.0.0.1',
    CARIOS_LOG_LEVEL: 'warn',
    // Small pools: suites share one Postgres (max_connections 100) and start several replicas.
    CARIOS_DATABASE_POOL_SIZE: '5',
    ...opts.env,
  };
  const proc = spawn(process.execPath, [SERVER_ENTRY], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((res) => proc.once('exit', (code) => res(code)));
  const url = `http://127.0.0.1:${port}`;
  const server: ServerProcess = {
    url,
    port,
    proc,
    output: () => out,
    exited,
    stop: async (signal = 'SIGTERM') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
  if (opts.waitReady !== false) {
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 30_000);
    for (;;) {
      if (proc.exitCode !== null)
        throw new Error(`server exited with ${proc.exitCode} before ready:\n${out}`);
      try {
        const r = await fetch(`${url}/readyz`);
        if (r.status === 200) break;
      } catch {
        /* not listening yet */
      }
      if (Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new Error(`server not ready within timeout:\n${out}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return server;
}

export interface TestStack {
  /** Env shared by every replica of this stack (database, Redis, prefix). */
  env: Record<string, string>;
  servers: ServerProcess[];
  /** Starts one more replica on the same database and Redis. */
  start: (extraEnv?: Record<string, string>, opts?: StartOptions) => Promise<ServerProcess>;
  close: () => Promise<void>;
}

/**
 * A fresh database (real Postgres when available, else a PGlite dir) and Redis prefix, with
 * `replicas` servers started on it. Embedded mode supports one replica only.
 */
export async function startStack(
  replicas = 1,
  opts: { env?: Record<string, string>; redis?: boolean } = {},
): Promise<TestStack> {
  const db = await createTestDatabase();
  const dataDir = mkdtempSync(join(tmpdir(), 'cariosan-test-'));
  const env: Record<string, string> = { CARIOS_DATA_DIR: dataDir, ...opts.env };
  if (db) env.CARIOS_DATABASE_URL = db.url;
  if (opts.redis !== false && testServices.redisUrl) {
    env.CARIOS_REDIS_URL = testServices.redisUrl;
    env.CARIOS_REDIS_PREFIX = `cariosan-test-${randomBytes(4).toString('hex')}:`;
  }
  const servers: ServerProcess[] = [];
  const stack: TestStack = {
    env,
    servers,
    start: async (extraEnv = {}, startOpts = {}) => {
      const s = await startServer({ ...startOpts, env: { ...env, ...extraEnv } });
      servers.push(s);
      return s;
    },
    close: async () => {
      await Promise.all(servers.map((s) => s.stop('SIGKILL')));
      await db?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  try {
    await Promise.all(Array.from({ length: replicas }, () => stack.start()));
  } catch (err) {
    await stack.close();
    throw err;
  }
  return stack;
}
