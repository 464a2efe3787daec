/**
 * A mergeable latency histogram with ~1% relative precision (log buckets), so load processes
 * can record millions of samples and ship a few kilobytes to the orchestrator over IPC.
 */
const MIN_MS = 0.001;
const GROWTH = 1.01;
const LOG_GROWTH = Math.log(GROWTH);

export interface HistogramData {
  buckets: Record<number, number>;
  count: number;
  sum: number;
  min: number;
  max: number;
}

export class Histogram {
  private buckets = new Map<number, number>();
  count = 0;
  sum = 0;
  min = Infinity;
  max = 0;

  record(ms: number): void {
    const v = Math.max(ms, MIN_MS);
    const i = Math.floor(Math.log(v / MIN_MS) / LOG_GROWTH);
    this.buckets.set(i, (this.buckets.get(i) ?? 0) + 1);
    this.count++;
    this.sum += ms;
    if (ms < this.min) this.min = ms;
    if (ms > this.max) this.max = ms;
  }

  merge(other: Histogram | HistogramData): this {
    const d = other instanceof Histogram ? other.toJSON() : other;
    for (const [k, n] of Object.entries(d.buckets)) {
      const i = Number(k);
      this.buckets.set(i, (this.buckets.get(i) ?? 0) + n);
    }
    this.count += d.count;
    this.sum += d.sum;
    if (d.count > 0) {
      this.min = Math.min(this.min, d.min);
      this.max = Math.max(this.max, d.max);
    }
    return this;
  }

  /** The q-th percentile (0-100) in ms: the geometric middle of its bucket, clamped to min/max. */
  percentile(q: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil((q / 100) * this.count));
    let seen = 0;
    for (const i of [...this.buckets.keys()].sort((a, b) => a - b)) {
      seen += this.buckets.get(i) ?? 0;
      if (seen >= rank) {
        const mid = MIN_MS * Math.pow(GROWTH, i + 0.5);
        return Math.min(Math.max(mid, this.min), this.max);
      }
    }
    return this.max;
  }

  mean(): number {
    return this.count === 0 ? NaN : this.sum / this.count;
  }

  summary(): { count: number; p50: number; p90: number; p99: number; max: number; mean: number } {
    return {
      count: this.count,
      p50: this.percentile(50),
      p90: this.percentile(90),
      p99: this.percentile(99),
      max: this.count ? this.max : NaN,
      mean: this.mean(),
    };
  }

  toJSON(): HistogramData {
    return {
      buckets: Object.fromEntries(this.buckets),
      count: this.count,
      sum: this.sum,
      min: this.min,
      max: this.max,
    };
  }

  static from(data: HistogramData): Histogram {
    return new Histogram().merge(data);
  }
}

/** CPU seconds (user + system) a process used between two `process.cpuUsage()` readings. */
export function cpuSeconds(delta: NodeJS.CpuUsage): number {
  return (delta.user + delta.system) / 1e6;
}
