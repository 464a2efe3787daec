import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execFileSync } from 'node:child_process';
import { freePort } from './server';

const DOCKER_DIR = resolve(__dirname, '../../docker');

export interface ProxyProcess {
  url: string;
  stop: () => Promise<void>;
  output: () => string;
}

export function hasCommand(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function waitForPort(url: string, proc: ChildProcess, out: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`proxy exited with ${proc.exitCode}:\n${out()}`);
    try {
      await fetch(`${url}/healthz`);
      return;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error(`proxy did not listen in time:\n${out()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function track(proc: ChildProcess): () => string {
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  return () => out;
}

function stopper(proc: ChildProcess, dir: string): () => Promise<void> {
  return async () => {
    if (proc.exitCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
}

/** Runs docker/nginx.conf (rendered from its placeholders) in front of the given upstreams. */
export async function startNginx(upstreams: [string, string]): Promise<ProxyProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'cariosan-nginx-'));
  const port = await freePort();
  const conf = readFileSync(join(DOCKER_DIR, 'nginx.conf'), 'utf8')
    .replaceAll('__LISTEN_PORT__', `127.0.0.1:${port}`)
    .replaceAll('__UPSTREAM_1__', upstreams[0])
    .replaceAll('__UPSTREAM_2__', upstreams[1])
    .replaceAll('__PREFIX__', dir);
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const proc = spawn(
    'nginx',
    ['-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const output = track(proc);
  const url = `http://127.0.0.1:${port}`;
  await waitForPort(url, proc, output);
  return { url, stop: stopper(proc, dir), output };
}

/** Runs docker/Caddyfile in front of the given upstreams. */
export async function startCaddy(upstreams: [string, string]): Promise<ProxyProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'cariosan-caddy-'));
  const port = await freePort();
  const proc = spawn('caddy', ['run', '--config', join(DOCKER_DIR, 'Caddyfile'), '--adapter', 'caddyfile'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '',
      HOME: dir,
      XDG_DATA_HOME: dir,
      XDG_CONFIG_HOME: dir,
      CARIOS_PROXY_LISTEN: `127.0.0.1:${port}`,
      UPSTREAM_1: upstreams[0],
      UPSTREAM_2: upstreams[1],
    },
  });
  const output = track(proc);
  const url = `http://127.0.0.1:${port}`;
  await waitForPort(url, proc, output);
  return { url, stop: stopper(proc, dir), output };
}
