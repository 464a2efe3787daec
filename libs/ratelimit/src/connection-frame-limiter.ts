/**
 * Frames a client may send on one gateway connection: `limit` per window of `windowMs` starting at
 * the first frame, the same fixed-window rule as the HTTP buckets. A connection lives on one
 * replica, so its count needs no shared store: two numbers on the connection, checked
 * synchronously on each frame (no Map lookup, no promise, no timer on the hot path).
 */
export class ConnectionFrameLimiter {
  private count = 0;
  private windowEndsAt = 0;

  constructor(
    readonly limit: number,
    readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts one frame; false when it is over the limit (the gateway closes with 4008). */
  consume(): boolean {
    const t = this.now();
    if (t >= this.windowEndsAt) {
      this.windowEndsAt = t + this.windowMs;
      this.count = 0;
    }
    this.count++;
    return this.count <= this.limit;
  }

  /** Frames left in the current window. */
  get remaining(): number {
    return this.now() >= this.windowEndsAt ? this.limit : Math.max(0, this.limit - this.count);
  }
}
