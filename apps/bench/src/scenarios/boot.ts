import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Flags } from '../support/args';
import { machineLoad, printTable, ratio, writeResult, type Row } from '../support/report';
import { sleep, startServer, type ServerProcess } from '../support/processes';
import { startStack, UNLIMITED } from '../support/stack';
import { uptime } from './common';

/**
 * `boot`: the memory of one server process, embedded (PGlite in a fresh data directory, in-process
 * bus) beside the same build on Postgres + Redis. Peak is the kernel's high-water mark of the
 * process (VmHWM), so nothing between two samples is missed; idle is VmRSS after `--idle` seconds
 * of doing nothing; then a small REST load (`--requests` posts and as many history pages) and the
 * figures again. The embedded server is also restarted on its data directory (second boot).
 */

const MIB = 1024;

function status(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / MIB : NaN;
}

interface Figures {
  readySeconds: number;
  peakAtReadyMiB: number;
  idleMiB: number;
  afterLoadMiB: number;
  peakMiB: number;
  requestsPerSecond: number;
}

async function call(base: string, method: string, path: string, body?: unknown, token?: string) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 200)}`);
  return text ? (JSON.parse(text) as Record<string, string>) : {};
}

/** Sequential posts then history pages, one client: enough to touch every code path once and grow caches. */
async function smallLoad(base: string, requests: number): Promise<number> {
  const { token } = await call(base, 'POST', '/api/v1/auth/register', {
    username: `boot${Date.now().toString(36)}`,
    password: 'correct horse battery',
  });
  const channel = await call(base, 'POST', '/api/v1/channels', { name: 'boot', kind: 'public' }, token);
  const started = Date.now();
  for (let i = 0; i < requests; i++) {
    await call(base, 'POST', `/api/v1/channels/${channel.id}/messages`, { content: `message ${i}` }, token);
  }
  for (let i = 0; i < requests; i++) {
    await call(base, 'GET', `/api/v1/channels/${channel.id}/messages?limit=50`, undefined, token);
  }
  return (2 * requests) / ((Date.now() - started) / 1000);
}

async function measure(
  start: () => Promise<ServerProcess>,
  idleMs: number,
  requests: number,
): Promise<{ figures: Figures; server: ServerProcess }> {
  const t0 = Date.now();
  const server = await start();
  const readySeconds = (Date.now() - t0) / 1000;
  const peakAtReadyMiB = status(server.pid, 'VmHWM');
  await sleep(idleMs);
  const idleMiB = status(server.pid, 'VmRSS');
  const requestsPerSecond = requests > 0 ? await smallLoad(server.url, requests) : NaN;
  return {
    server,
    figures: {
      readySeconds,
      peakAtReadyMiB,
      idleMiB,
      afterLoadMiB: status(server.pid, 'VmRSS'),
      peakMiB: status(server.pid, 'VmHWM'),
      requestsPerSecond,
    },
  };
}

export async function runBoot(flags: Flags): Promise<void> {
  const idleMs = flags.num('idle', 60, 0, 600) * 1000;
  const requests = flags.num('requests', 200, 0, 100_000);
  flags.assertAllUsed();
  const before = uptime();
  process.stdout.write(
    `boot: idle ${idleMs / 1000}s, then ${requests} posts + ${requests} pages\n${before}\n`,
  );

  const dataDir = mkdtempSync(join(tmpdir(), 'cariosan-bench-boot-'));
  const embeddedEnv = { CARIOS_DATA_DIR: dataDir, ...UNLIMITED };
  let embedded: Figures;
  let second: Figures;
  let postgres: Figures;
  try {
    process.stdout.write('embedded, first boot on an empty data directory...\n');
    const first = await measure(() => startServer(embeddedEnv), idleMs, requests);
    embedded = first.figures;
    await first.server.stop();
    process.stdout.write('embedded, second boot on the same data directory...\n');
    const again = await measure(() => startServer(embeddedEnv), idleMs, 0);
    second = again.figures;
    await again.server.stop();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
  process.stdout.write('Postgres + Redis...\n');
  const stack = await startStack(0);
  try {
    const run = await measure(() => stack.start(), idleMs, requests);
    postgres = run.figures;
  } finally {
    await stack.close();
  }

  const mib = (v: number) => Math.round(v);
  const rows: Row[] = [
    {
      metric: 'boot to ready (s), first boot',
      value: embedded.readySeconds,
      baseline: postgres.readySeconds,
      ratio: ratio(embedded.readySeconds, postgres.readySeconds),
    },
    {
      metric: 'peak RSS during first boot (MiB)',
      value: mib(embedded.peakAtReadyMiB),
      baseline: mib(postgres.peakAtReadyMiB),
      ratio: ratio(embedded.peakAtReadyMiB, postgres.peakAtReadyMiB),
      target: '<= 400',
    },
    {
      metric: `idle RSS ${idleMs / 1000}s after ready (MiB)`,
      value: mib(embedded.idleMiB),
      baseline: mib(postgres.idleMiB),
      ratio: ratio(embedded.idleMiB, postgres.idleMiB),
      target: '<= 200',
    },
    {
      metric: `RSS after ${2 * requests} requests (MiB)`,
      value: mib(embedded.afterLoadMiB),
      baseline: mib(postgres.afterLoadMiB),
      ratio: ratio(embedded.afterLoadMiB, postgres.afterLoadMiB),
    },
    {
      metric: 'peak RSS over the whole run (MiB)',
      value: mib(embedded.peakMiB),
      baseline: mib(postgres.peakMiB),
      ratio: ratio(embedded.peakMiB, postgres.peakMiB),
      target: '<= 400',
    },
    {
      metric: 'sequential requests/s (1 client)',
      value: embedded.requestsPerSecond,
      baseline: postgres.requestsPerSecond,
      ratio: ratio(embedded.requestsPerSecond, postgres.requestsPerSecond),
    },
    {
      metric: 'second boot: to ready (s) / peak / idle (MiB)',
      value: `${second.readySeconds.toFixed(1)} / ${mib(second.peakAtReadyMiB)} / ${mib(second.idleMiB)}`,
      note: 'embedded, restarted on its data directory',
    },
  ];
  const table = printTable(
    `boot: embedded server (server) vs the same build on Postgres + Redis (baseline); load ${machineLoad()}`,
    rows,
  );
  writeResult('boot', { before, after: uptime(), idleMs, requests, embedded, second, postgres, table });
}
