import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { answers } from './env';

/**
 * This suite's own Redis ports: 16400-16499, or CARIOS_TEST_OWN_REDIS_PORTS=<from>-<to> so that
 * several checkouts testing on one machine never pick the same port.
 */
const PORT_RANGE = ((spec = process.env.CARIOS_TEST_OWN_REDIS_PORTS) => {
  const m = spec ? /^(\d+)-(\d+)$/.exec(spec) : null;
  return m ? { from: Number(m[1]), to: Number(m[2]) } : { from: 16400, to: 16499 };
})();

export interface OwnRedis {
  port: number;
  url: string;
  /** Runs redis-cli against it; returns stdout. */
  cli: (...args: string[]) => string;
  /** Stops the server (SIGKILL: nothing is saved) and waits until the port is closed. */
  stop: () => Promise<void>;
  /** Starts it again, empty, on the same port. */
  start: () => Promise<void>;
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A redis-server of the test's own (the shared one must never be stopped), on a free port of
 * the range, without persistence, so that a test can stop, restart or restrict it.
 */
export async function startOwnRedis(): Promise<OwnRedis> {
  let port = 0;
  for (
    let p = PORT_RANGE.from + Math.floor(Math.random() * Math.max(1, (PORT_RANGE.to - PORT_RANGE.from) / 2));
    p <= PORT_RANGE.to;
    p++
  ) {
    if (!(await answers('127.0.0.1', p, 200))) {
      port = p;
      break;
    }
  }
  if (!port) throw new Error('no free port for an own redis-server');
  let proc: ChildProcess | undefined;
  const own: OwnRedis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    cli: (...args) => {
      const r = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], {
        encoding: 'utf8',
      });
      return r.stdout;
    },
    start: async () => {
      proc = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
        { stdio: 'ignore' },
      );
      await waitFor(async () => own.cli('ping').trim() === 'PONG', `redis-server on ${port}`);
    },
    stop: async () => {
      const p = proc;
      proc = undefined;
      if (p && p.exitCode === null && p.signalCode === null) {
        const exited = new Promise((r) => p.once('exit', r));
        p.kill('SIGKILL');
        await exited;
      }
      await waitFor(async () => !(await answers('127.0.0.1', port, 200)), `port ${port} to close`);
    },
  };
  await own.start();
  return own;
}
