import { Injectable } from '@nestjs/common';
import { UnavailableError } from '../errors/app-error';

interface Task {
  work: () => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

function isLockTimeout(err: unknown): boolean {
  const e = err as { code?: unknown; driverError?: { code?: unknown } } | null;
  return e?.code === '55P03' || e?.driverError?.code === '55P03';
}

/**
 * Runs the writes of one channel one at a time in this process. Postgres serialises them anyway
 * (the channel row's lock); waiting here instead of on the lock keeps a connection free per
 * waiting request, so a channel whose lock is stuck holds one pooled connection per replica and
 * every other channel and route keeps its connections. When the write at the head gives up on
 * the lock (lock_timeout), the ones queued behind it answer 503 at once instead of waiting their
 * own turn at the same stuck lock.
 */
@Injectable()
export class ChannelWriteQueue {
  private readonly queues = new Map<string, Task[]>();

  run<T>(channelId: string, work: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const task: Task = { work, resolve: resolve as (value: unknown) => void, reject };
      const queue = this.queues.get(channelId);
      if (queue) {
        queue.push(task);
        return;
      }
      const fresh = [task];
      this.queues.set(channelId, fresh);
      this.next(channelId, fresh);
    });
  }

  /** Channels with writes queued or running in this process (diagnostics). */
  get size(): number {
    return this.queues.size;
  }

  private next(channelId: string, queue: Task[]): void {
    const task = queue[0]!;
    new Promise<unknown>((resolve) => resolve(task.work()))
      .then(task.resolve, (err: unknown) => {
        task.reject(err);
        if (isLockTimeout(err)) {
          for (const waiting of queue.splice(1))
            waiting.reject(new UnavailableError('the channel is busy, try again shortly'));
        }
      })
      .finally(() => {
        queue.shift();
        if (queue.length > 0) this.next(channelId, queue);
        else this.queues.delete(channelId);
      })
      .catch(() => undefined);
  }
}
