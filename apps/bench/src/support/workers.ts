import type { ChildProcess } from 'node:child_process';
import type {
  ClosedLoopResult,
  FromWorker,
  RatePostResult,
  StepReport,
  Task,
  ToWorker,
} from '../load/protocol';
import { benchEnv } from './env';
import { fork, track, WORKER_ENTRY } from './processes';

/** A forked load process and a typed request/answer channel to it. */
export class LoadWorker {
  private readonly proc: ChildProcess;
  private waiters: {
    type: FromWorker['type'];
    resolve: (m: FromWorker) => void;
    reject: (e: Error) => void;
  }[] = [];
  private exited = false;

  constructor(label: string) {
    this.proc = track(
      fork(WORKER_ENTRY, [label], {
        env: { PATH: benchEnv.path, HOME: benchEnv.home },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        // Room for thousands of socket objects and histograms.
        execArgv: ['--max-old-space-size=2048'],
      }),
    );
    this.proc.on('message', (raw: unknown) => {
      const msg = raw as FromWorker;
      if (msg.type === 'error') {
        for (const w of this.waiters.splice(0)) w.reject(new Error(`load process failed: ${msg.message}`));
        return;
      }
      const i = this.waiters.findIndex((w) => w.type === msg.type);
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(msg);
    });
    this.proc.once('exit', (code) => {
      this.exited = true;
      for (const w of this.waiters.splice(0)) w.reject(new Error(`load process exited with ${code}`));
    });
  }

  get pid(): number {
    return this.proc.pid!;
  }

  private ask<T extends FromWorker['type']>(
    msg: ToWorker,
    answer: T,
    timeoutMs: number,
  ): Promise<Extract<FromWorker, { type: T }>> {
    if (this.exited) return Promise.reject(new Error('load process is gone'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`load process did not answer ${msg.type} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.waiters.push({
        type: answer,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m as Extract<FromWorker, { type: T }>);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.proc.send(msg);
    });
  }

  async closedLoop(task: Task & { kind: 'http' | 'pg' }): Promise<ClosedLoopResult> {
    const m = await this.ask({ type: 'run', task }, 'result', task.warmupMs + task.durationMs + 60_000);
    return m.result as ClosedLoopResult;
  }

  async ratePost(task: Task & { kind: 'rate-post' }): Promise<RatePostResult> {
    const m = await this.ask({ type: 'run', task }, 'result', task.durationMs + 60_000);
    return m.result as RatePostResult;
  }

  async holdSockets(
    task: Task & { kind: 'gateway-hold' },
  ): Promise<Extract<FromWorker, { type: 'connected' }>> {
    return this.ask({ type: 'run', task }, 'connected', 180_000);
  }

  stepStart(fromSeq: number, toSeq: number): void {
    this.proc.send({ type: 'step-start', fromSeq, toSeq } satisfies ToWorker);
  }

  async stepEnd(): Promise<StepReport> {
    return (await this.ask({ type: 'step-end' }, 'step', 30_000)).report;
  }

  async benchFrames(): Promise<number> {
    return (await this.ask({ type: 'count' }, 'count', 30_000)).benchFrames;
  }

  /** Closes what the process holds and ends it; resolves with its total CPU seconds. */
  async close(): Promise<number> {
    if (this.exited) return NaN;
    const m = await this.ask({ type: 'close' }, 'closed', 30_000).catch(() => undefined);
    this.proc.disconnect();
    return m?.cpuSeconds ?? NaN;
  }
}
