import { ChildProcess, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../support/server';

/**
 * `npm start` as a user runs it, in a scratch copy of the checkout (so this suite never rebuilds
 * the dist/ other suites run from): two at once on a checkout that was never built both come up,
 * with one build between them; with dist/ current, neither recompiles.
 */

const ROOT = resolve(__dirname, '../..');
const COPIED = [
  'apps',
  'libs',
  'migrations',
  'scripts',
  'package.json',
  'package-lock.json',
  'tsconfig.json',
  'tsconfig.build.json',
];

interface Started {
  proc: ChildProcess;
  url: string;
  output: () => string;
}

function npmStart(cwd: string, port: number, dataDir: string): Started {
  // Its own process group, so stopping it stops npm, the shell and node together.
  const proc = spawn('npm', ['start'], {
    cwd,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      CARIOS_PORT: String(port),
      CARIOS_DATA_DIR: dataDir,
      CARIOS_LOG_LEVEL: 'warn',
    },
  });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  return { proc, url: `http://127.0.0.1:${port}`, output: () => out };
}

async function ready(s: Started, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (s.proc.exitCode !== null) throw new Error(`npm start exited with ${s.proc.exitCode}:\n${s.output()}`);
    const res = await fetch(`${s.url}/readyz`).catch(() => undefined);
    if (res?.status === 200) return;
    if (Date.now() > deadline) throw new Error(`not ready within ${timeoutMs} ms:\n${s.output()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function stop(s: Started): Promise<void> {
  if (s.proc.exitCode !== null || s.proc.signalCode !== null) return;
  const exited = new Promise((r) => s.proc.once('exit', r));
  process.kill(-s.proc.pid!, 'SIGTERM');
  await exited;
}

const builds = (out: string) => out.match(/^build: dist\/ built in /gm)?.length ?? 0;

describe('npm start', () => {
  let dir: string;
  const running: Started[] = [];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'cariosan-start-'));
    for (const entry of COPIED) cpSync(join(ROOT, entry), join(dir, entry), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  });
  afterAll(async () => {
    await Promise.all(running.map(stop));
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts twice at once in a checkout that was never built: one build, both serve', async () => {
    const [a, b] = await Promise.all(
      [0, 1].map(async (i) => npmStart(dir, await freePort(), join(dir, `data-${i}`))),
    );
    running.push(a!, b!);
    // A compile on a contended CI machine: generous, it is a deadline, not a measurement.
    await Promise.all([ready(a!, 240_000), ready(b!, 240_000)]);
    // The other one waited on the lock (or came late and found dist/ current).
    expect(builds(a!.output()) + builds(b!.output())).toBe(1);
    for (const s of [a!, b!]) expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
    // Jest's own limit must not be shorter than the deadline above.
  }, 300_000);

  it('starts without recompiling when dist/ is current', async () => {
    await Promise.all(running.splice(0).map(stop));
    const before = readFileSync(join(dir, 'dist/build-info.json'), 'utf8');
    const [a, b] = await Promise.all(
      [0, 1].map(async (i) => npmStart(dir, await freePort(), join(dir, `data-${i}`))),
    );
    running.push(a!, b!);
    await Promise.all([ready(a!, 60_000), ready(b!, 60_000)]);
    expect(builds(a!.output()) + builds(b!.output())).toBe(0);
    expect(a!.output() + b!.output()).not.toMatch(/waiting for it/);
    expect(readFileSync(join(dir, 'dist/build-info.json'), 'utf8')).toBe(before);
  });
});
