import { ChildProcess, execFileSync, fork, spawn } from 'node:child_process';
import { benchEnv } from './env';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';

/** Compiled entry points, resolved from this file's place in dist/apps/bench/src/support. */
export const SERVER_ENTRY = resolve(__dirname, '../../../server/src/main.js');
export const WORKER_ENTRY = resolve(__dirname, '../load/worker.js');
export const RAW_WS_ENTRY = resolve(__dirname, '../baselines/raw-ws-server.js');
export const SOCKET_IO_ENTRY = resolve(__dirname, '../baselines/socketio-server.js');

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? res(addr.port) : rej(new Error('no free port'))));
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resident set size of a process in KiB, as `ps` reports it. */
export function rssKb(pid: number): number {
  return Number(
    execFileSync('ps', ['-o', 'rss=', '-p', String(pid)])
      .toString()
      .trim(),
  );
}

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
export function procCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

export interface ServerProcess {
  url: string;
  port: number;
  pid: number;
  /** The V8 inspector's port when started with `inspect` (for a forced GC before reading RSS). */
  inspectPort?: number;
  proc: ChildProcess;
  output: () => string;
  stop: () => Promise<void>;
}

/** Children still running when the bench exits early (Ctrl-C, crash) are killed by this list. */
const children = new Set<ChildProcess>();

export function killAllChildren(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

/** Cleanups (dropping the bench database) that must also run when the bench is interrupted. */
const cleanups = new Set<() => Promise<void>>();

export function onInterrupt(fn: () => Promise<void>): () => void {
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

/** Kills the children, then runs the registered cleanups (bounded to 15 s in all). */
export async function interruptCleanup(): Promise<void> {
  killAllChildren();
  const all = Promise.allSettled([...cleanups].map((fn) => fn()));
  await Promise.race([all, sleep(15_000)]);
}

function track(proc: ChildProcess): ChildProcess {
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  return proc;
}

async function waitFor(url: string, proc: ChildProcess, out: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exitCode !== null)
      throw new Error(`process exited with ${proc.exitCode} before ready:\n${out()}`);
    try {
      const r = await fetch(url);
      if (r.status === 200) return;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`not ready within ${timeoutMs} ms (${url}):\n${out()}`);
    }
    await sleep(100);
  }
}

/**
 * Spawns `command` (this Node binary by default) with `args` after `nodeArgs`, tracked so it is
 * killed if the bench ends early, keeping the tail of what it prints.
 */
export function spawnTracked(
  entry: string,
  env: Record<string, string>,
  nodeArgs: string[] = [],
  args?: string[],
): { proc: ChildProcess; output: () => string } {
  // With `args`, `entry` is the executable itself (redis-server); otherwise a script for Node.
  const [command, argv] = args ? [entry, args] : [process.execPath, [...nodeArgs, entry]];
  const proc = track(spawn(command, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  // Keep only the tail: a chatty server must not grow the bench's memory without bound.
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-20_000);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  return { proc, output: () => out };
}

export function stopper(proc: ChildProcess): () => Promise<void> {
  return async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 12_000);
    await exited;
    clearTimeout(timer);
  };
}

/** Options every server-like process (ours and the baselines) takes. */
export interface StartOptions {
  /**
   * Start with the V8 inspector on a free loopback port, so the bench can force a full GC over
   * the DevTools protocol before reading RSS (no server code change, same for every side).
   */
  inspect?: boolean;
}

async function inspectArgs(opts: StartOptions): Promise<{ args: string[]; port?: number }> {
  if (!opts.inspect) return { args: [] };
  const port = await freePort();
  return { args: [`--inspect=127.0.0.1:${port}`], port };
}

/** Starts the built server on a free loopback port and waits for /readyz. */
export async function startServer(
  env: Record<string, string>,
  opts: StartOptions = {},
): Promise<ServerProcess> {
  const port = await freePort();
  const inspect = await inspectArgs(opts);
  const { proc, output } = spawnTracked(
    SERVER_ENTRY,
    {
      PATH: benchEnv.path,
      HOME: benchEnv.home,
      NODE_ENV: 'production',
      CARIOS_PORT: String(port),
      CARIOS_HOST: '127.0.0.1',
      CARIOS_LOG_LEVEL: 'warn',
      ...env,
    },
    [...benchEnv.serverNodeArgs, ...inspect.args],
  );
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/readyz`, proc, output, 60_000);
  return { url, port, pid: proc.pid!, inspectPort: inspect.port, proc, output, stop: stopper(proc) };
}

/** Starts a baseline process (`entry`) on a free port, passed as BENCH_PORT, and waits for /healthz. */
async function startBaseline(
  entry: string,
  env: Record<string, string>,
  opts: StartOptions,
): Promise<ServerProcess> {
  const port = await freePort();
  const inspect = await inspectArgs(opts);
  const { proc, output } = spawnTracked(
    entry,
    { PATH: benchEnv.path, NODE_ENV: 'production', BENCH_PORT: String(port), ...env },
    [...benchEnv.serverNodeArgs, ...inspect.args],
  );
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/healthz`, proc, output, 30_000);
  return { url, port, pid: proc.pid!, inspectPort: inspect.port, proc, output, stop: stopper(proc) };
}

/** Starts the raw `ws` broadcast server used as the fanout baseline. */
export function startRawWsServer(opts: StartOptions = {}): Promise<ServerProcess> {
  return startBaseline(RAW_WS_ENTRY, {}, opts);
}

/** Settings of one Socket.IO baseline replica (see baselines/socketio-server.ts). */
export interface SocketIoSettings {
  databaseUrl: string;
  redisUrl: string;
  /** The Redis adapter's channel prefix, unique per run so runs on a shared Redis never cross. */
  adapterKey: string;
  poolSize: number;
}

/** Starts one replica of the Socket.IO + Redis adapter + Postgres baseline. */
export function startSocketIoServer(s: SocketIoSettings, opts: StartOptions = {}): Promise<ServerProcess> {
  return startBaseline(
    SOCKET_IO_ENTRY,
    {
      BENCH_SIO_DATABASE_URL: s.databaseUrl,
      BENCH_SIO_REDIS_URL: s.redisUrl,
      BENCH_SIO_ADAPTER_KEY: s.adapterKey,
      BENCH_SIO_POOL_SIZE: String(s.poolSize),
    },
    opts,
  );
}

export { fork, track };
