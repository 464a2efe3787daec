import { execFileSync } from 'node:child_process';
import type { ClosedLoopResult } from '../load/protocol';
import { Histogram } from '../support/stats';
import { procCpuSeconds, sleep } from '../support/processes';
import { withClient } from '../support/database';
import type { Task } from '../load/protocol';
import { LoadWorker } from '../support/workers';

export function uptime(): string {
  try {
    return execFileSync('uptime').toString().trim();
  } catch {
    return 'uptime unavailable';
  }
}

export interface MergedLoad {
  histogram: Histogram;
  completed: number;
  perSecond: number;
  failures: Record<string, number>;
  firstFailure?: string;
  loadCpuSeconds: number;
  windowMs: number;
}

export function mergeLoads(results: ClosedLoopResult[]): MergedLoad {
  const histogram = new Histogram();
  const failures: Record<string, number> = {};
  let completed = 0;
  let loadCpuSeconds = 0;
  let firstFailure: string | undefined;
  for (const r of results) {
    histogram.merge(r.histogram);
    completed += r.completed;
    loadCpuSeconds += r.cpuSeconds;
    firstFailure ??= r.firstFailure;
    for (const [k, n] of Object.entries(r.failures)) failures[k] = (failures[k] ?? 0) + n;
  }
  const windowMs = results[0]?.windowMs ?? NaN;
  return {
    histogram,
    completed,
    perSecond: completed / (windowMs / 1000),
    failures,
    firstFailure,
    loadCpuSeconds,
    windowMs,
  };
}

/**
 * Runs one closed-loop phase split over `procs` load processes (client i goes to process
 * i % procs) and samples the CPU of `watchPids` over the measured window only.
 */
export async function runClosedLoopPhase(
  procs: number,
  makeTask: (proc: number) => Task & { kind: 'http' | 'pg' },
  warmupMs: number,
  durationMs: number,
  watchPids: number[],
  databaseUrl: string,
): Promise<MergedLoad & { watchedCpuSeconds: number; postgresCpuSeconds: number }> {
  const workers = Array.from({ length: procs }, (_, i) => new LoadWorker(`load-${i}`));
  let cpuFrom = 0;
  let cpuTo = NaN;
  const sum = () => watchPids.reduce((a, pid) => a + procCpuSeconds(pid), 0);
  const t1 = setTimeout(() => (cpuFrom = sum()), warmupMs);
  const t2 = setTimeout(() => (cpuTo = sum()), warmupMs + durationMs);
  // Postgres backends of the bench database that live through the whole window (the pools').
  const pgFrom = sleep(warmupMs).then(() => backendCpu(databaseUrl));
  const pgTo = sleep(warmupMs + durationMs).then(() => backendCpu(databaseUrl));
  try {
    const results = await Promise.all(workers.map((w, i) => w.closedLoop(makeTask(i))));
    const [a, b] = await Promise.all([pgFrom, pgTo]);
    let postgresCpuSeconds = 0;
    for (const [pid, end] of b) postgresCpuSeconds += end - (a.get(pid) ?? end);
    return { ...mergeLoads(results), watchedCpuSeconds: cpuTo - cpuFrom, postgresCpuSeconds };
  } finally {
    clearTimeout(t1);
    clearTimeout(t2);
    await Promise.all(workers.map((w) => w.close()));
  }
}

/** CPU seconds so far of every backend connected to the database (empty when /proc is unreadable). */
async function backendCpu(databaseUrl: string): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  try {
    const pids = await withClient(databaseUrl, async (c) => {
      const { rows } = await c.query<{ pid: number }>(
        'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
      );
      return rows.map((r) => r.pid);
    });
    for (const pid of pids) {
      try {
        out.set(pid, procCpuSeconds(pid));
      } catch {
        /* gone meanwhile */
      }
    }
  } catch {
    /* not measurable: reported as 0 */
  }
  return out;
}

/** Picks every `procs`-th element starting at `k`: the share of load process k. */
export function shareOf<T>(items: T[], k: number, procs: number): T[] {
  return items.filter((_, i) => i % procs === k);
}

export function failuresText(f: Record<string, number>): string {
  const e = Object.entries(f);
  return e.length ? e.map(([k, n]) => `${k}:${n}`).join(' ') : '0';
}
