import { Histogram, cpuSeconds } from '../support/stats';
import type { ClosedLoopResult } from './protocol';

/**
 * Runs `concurrency` closed loops of `op` for warmup + duration, recording only what completes
 * inside the measured window. Every loop stops at the deadline; an op that hangs is cut by the
 * hard stop (duration + 30 s) so the process always answers.
 */
export async function closedLoop(
  concurrency: number,
  warmupMs: number,
  durationMs: number,
  op: (client: number) => Promise<string | undefined>,
): Promise<ClosedLoopResult> {
  const hist = new Histogram();
  const failures: Record<string, number> = {};
  let firstFailure: string | undefined;
  let completed = 0;
  const t0 = performance.now();
  const measureFrom = t0 + warmupMs;
  const measureTo = measureFrom + durationMs;
  let cpuStart: NodeJS.CpuUsage | undefined;
  let cpuEnd: NodeJS.CpuUsage | undefined;
  const cpuStartTimer = setTimeout(() => (cpuStart = process.cpuUsage()), warmupMs);
  const cpuEndTimer = setTimeout(() => (cpuEnd = process.cpuUsage(cpuStart)), warmupMs + durationMs);

  const loop = async (client: number) => {
    while (performance.now() < measureTo) {
      const start = performance.now();
      let failure: string | undefined;
      try {
        failure = await op(client);
      } catch (err) {
        failure = `error: ${err instanceof Error ? err.message : String(err)}`;
      }
      const end = performance.now();
      if (start < measureFrom || end > measureTo) continue;
      if (failure === undefined) {
        completed++;
        hist.record(end - start);
      } else {
        const key = failure.split(':')[0] ?? 'error';
        failures[key] = (failures[key] ?? 0) + 1;
        firstFailure ??= failure;
        // A failing target must not turn into a busy loop.
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  };
  const hardStop = new Promise<void>((r) => setTimeout(r, warmupMs + durationMs + 30_000).unref());
  await Promise.race([Promise.all(Array.from({ length: concurrency }, (_, i) => loop(i))), hardStop]);
  clearTimeout(cpuStartTimer);
  clearTimeout(cpuEndTimer);
  return {
    histogram: hist.toJSON(),
    completed,
    failures,
    firstFailure,
    windowMs: durationMs,
    cpuSeconds: cpuSeconds(cpuEnd ?? process.cpuUsage(cpuStart)),
  };
}

/** A uniformly random bigint in [min, max]. */
export function randomBetween(min: bigint, max: bigint): bigint {
  const span = max - min + 1n;
  const r =
    (BigInt(Math.floor(Math.random() * 2 ** 32)) << 32n) | BigInt(Math.floor(Math.random() * 2 ** 32));
  return min + (r % span);
}
