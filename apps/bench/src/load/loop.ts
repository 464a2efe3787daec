import { Histogram, cpuSeconds } from '../support/stats';
import type { ClosedLoopResult } from './protocol';

type Op = (client: number) => Promise<string | undefined>;

/** Runs `op`, turning a throw into a failure text ("<key>: <message>"). */
async function attempt(op: Op, arg: number): Promise<string | undefined> {
  try {
    return await op(arg);
  } catch (err) {
    return `error: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/**
 * What a load loop records over its measured window [warmup, warmup + duration): successes with
 * their latency, failures by key (the text before the first ':'), and this process's CPU time
 * over the window.
 */
class WindowRecorder {
  private readonly hist = new Histogram();
  private readonly failures: Record<string, number> = {};
  private firstFailure: string | undefined;
  private completed = 0;
  private cpuStart: NodeJS.CpuUsage | undefined;
  private cpuEnd: NodeJS.CpuUsage | undefined;
  private readonly timers: NodeJS.Timeout[];
  readonly measureFrom: number;
  readonly measureTo: number;

  constructor(
    warmupMs: number,
    private readonly durationMs: number,
  ) {
    this.measureFrom = performance.now() + warmupMs;
    this.measureTo = this.measureFrom + durationMs;
    this.timers = [
      setTimeout(() => (this.cpuStart = process.cpuUsage()), warmupMs),
      setTimeout(() => (this.cpuEnd = process.cpuUsage(this.cpuStart)), warmupMs + durationMs),
    ];
  }

  success(latencyMs: number): void {
    this.completed++;
    this.hist.record(latencyMs);
  }

  failure(text: string): void {
    const key = text.split(':')[0] ?? 'error';
    this.failures[key] = (this.failures[key] ?? 0) + 1;
    this.firstFailure ??= text;
  }

  /** Waits for `work`, at most until the window's end plus 30 s, so the process always answers. */
  async finish(work: Promise<unknown>): Promise<ClosedLoopResult> {
    const hardStop = new Promise<void>((r) =>
      setTimeout(r, this.measureTo - performance.now() + 30_000).unref(),
    );
    await Promise.race([work, hardStop]);
    this.timers.forEach(clearTimeout);
    return {
      histogram: this.hist.toJSON(),
      completed: this.completed,
      failures: this.failures,
      firstFailure: this.firstFailure,
      windowMs: this.durationMs,
      cpuSeconds: cpuSeconds(this.cpuEnd ?? process.cpuUsage(this.cpuStart)),
    };
  }
}

/**
 * Runs `concurrency` closed loops of `op` for warmup + duration, recording only what completes
 * inside the measured window. Every loop stops at the deadline; an op that hangs is cut by the
 * hard stop (duration + 30 s).
 */
export async function closedLoop(
  concurrency: number,
  warmupMs: number,
  durationMs: number,
  op: Op,
): Promise<ClosedLoopResult> {
  const rec = new WindowRecorder(warmupMs, durationMs);
  const loop = async (client: number) => {
    while (performance.now() < rec.measureTo) {
      const start = performance.now();
      const failure = await attempt(op, client);
      const end = performance.now();
      if (start < rec.measureFrom || end > rec.measureTo) continue;
      if (failure === undefined) rec.success(end - start);
      else {
        rec.failure(failure);
        // A failing target must not turn into a busy loop.
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  };
  return rec.finish(Promise.all(Array.from({ length: concurrency }, (_, i) => loop(i))));
}

/**
 * Runs `op(i)` open-loop: call i is due at start + i / rate whatever the earlier answers, for
 * warmup + duration. Latency counts from the due time (so a stall shows up in it instead of
 * lowering the offered rate); only calls due inside the window are recorded. A call due while
 * `maxInFlight` are pending is skipped and counted as the failure `skipped`.
 */
export async function openLoop(
  rate: number,
  warmupMs: number,
  durationMs: number,
  maxInFlight: number,
  op: Op,
): Promise<ClosedLoopResult> {
  const rec = new WindowRecorder(warmupMs, durationMs);
  const t0 = rec.measureFrom - warmupMs;
  const pending: Promise<void>[] = [];
  let inFlight = 0;
  const total = Math.floor((rate * (warmupMs + durationMs)) / 1000);
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const inWindow = due >= rec.measureFrom && due < rec.measureTo;
    if (inFlight >= maxInFlight) {
      if (inWindow) rec.failure(`skipped: ${maxInFlight} calls already in flight`);
      continue;
    }
    inFlight++;
    pending.push(
      attempt(op, i).then((failure) => {
        inFlight--;
        if (!inWindow) return;
        if (failure === undefined) rec.success(performance.now() - due);
        else rec.failure(failure);
      }),
    );
  }
  return rec.finish(Promise.all(pending));
}

/** Closed loops of `clients`, or with `rate` one open loop whose call i goes to client i % clients. */
export function clientLoad(
  task: { rate?: number; warmupMs: number; durationMs: number },
  clients: number,
  op: Op,
): Promise<ClosedLoopResult> {
  if (task.rate === undefined) return closedLoop(clients, task.warmupMs, task.durationMs, op);
  // Room for a stall of a few seconds at the offered rate before calls are skipped.
  const maxInFlight = Math.max(64, Math.ceil(task.rate * 5));
  return openLoop(task.rate, task.warmupMs, task.durationMs, maxInFlight, (i) => op(i % clients));
}

/** A uniformly random bigint in [min, max]. */
export function randomBetween(min: bigint, max: bigint): bigint {
  const span = max - min + 1n;
  const r =
    (BigInt(Math.floor(Math.random() * 2 ** 32)) << 32n) | BigInt(Math.floor(Math.random() * 2 ** 32));
  return min + (r % span);
}
