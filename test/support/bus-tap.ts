import Redis from 'ioredis';

export interface TappedEvent {
  topic: string;
  id: string;
  type: string;
  channelId: string;
  seq?: number;
  data: any;
  createdAt: string;
  /** The message exactly as published. */
  raw: string;
}

/**
 * Listens to every channel and user topic of one deployment's bus (its Redis and prefix), the way
 * a consumer in another process would: what it records was really published.
 */
export class BusTap {
  readonly events: TappedEvent[] = [];

  private constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {
    redis.on('pmessage', (_pattern: string, channel: string, message: string) => {
      const topic = channel.slice(prefix.length);
      this.events.push({
        ...(JSON.parse(message) as Omit<TappedEvent, 'topic' | 'raw'>),
        topic,
        raw: message,
      });
    });
  }

  static async open(url: string, prefix: string): Promise<BusTap> {
    const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    redis.on('error', () => undefined);
    await redis.connect();
    await redis.psubscribe(`${prefix}channel:*`, `${prefix}user:*`);
    return new BusTap(redis, prefix);
  }

  on(topic: string): TappedEvent[] {
    return this.events.filter((e) => e.topic === topic);
  }

  /** Waits until `check` holds for what was received (deadline, no fixed sleep). */
  async waitUntil(
    check: (events: TappedEvent[]) => boolean,
    what: string,
    timeoutMs = 10_000,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check(this.events)) {
      if (Date.now() > deadline) throw new Error(`bus tap: timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
