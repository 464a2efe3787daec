import type { RateLimitDecision, RateLimitPort } from '@cariosan/core';

/** Fixed windows in a Map: the embedded (single replica) rate-limit store. */
export class InProcessRateLimit implements RateLimitPort {
  private readonly windows = new Map<string, { count: number; resetAt: number }>();
  private lastSweep = 0;

  async hit(key: string, limit: number, windowSeconds: number): Promise<RateLimitDecision> {
    const now = Date.now();
    this.sweep(now);
    let w = this.windows.get(key);
    if (!w || w.resetAt <= now) {
      w = { count: 0, resetAt: windowStart(now, windowSeconds) + windowSeconds * 1000 };
      this.windows.set(key, w);
    }
    w.count++;
    return decision(w.count, limit, w.resetAt - now);
  }

  /** Drops expired windows now and then, so idle keys do not pile up. */
  private sweep(now: number): void {
    if (now - this.lastSweep < 10_000) return;
    this.lastSweep = now;
    for (const [k, w] of this.windows) if (w.resetAt <= now) this.windows.delete(k);
  }
}

export function windowStart(nowMs: number, windowSeconds: number): number {
  const size = windowSeconds * 1000;
  return Math.floor(nowMs / size) * size;
}

export function decision(count: number, limit: number, msUntilReset: number): RateLimitDecision {
  return {
    allowed: count <= limit,
    limit,
    remaining: Math.max(0, limit - count),
    resetSeconds: Math.max(1, Math.ceil(msUntilReset / 1000)),
  };
}
