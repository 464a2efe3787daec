import { Logger, OnApplicationShutdown } from '@nestjs/common';
import type Redis from 'ioredis';
import { createRedis } from '../redis/redis.module';
import type { BusListener, BusPort } from './bus.port';

/** A publish that Redis does not acknowledge in this time rejects, so writers can retry. */
const PUBLISH_TIMEOUT_MS = 2000;

interface Topic {
  listeners: Set<BusListener>;
  /** Settles when Redis confirmed the SUBSCRIBE for this topic. */
  active: Promise<void>;
}

/**
 * The bus across replicas: one publishing and one subscribing connection per process.
 * Only topics with a local listener are subscribed (plain SUBSCRIBE, no patterns), and
 * ioredis re-subscribes all of them after a reconnect (autoResubscribe, on by default).
 * Pub/sub channel names are not covered by ioredis' keyPrefix, so the prefix is added here.
 */
export class RedisBus implements BusPort, OnApplicationShutdown {
  private readonly logger = new Logger('RedisBus');
  private readonly publisher: Redis;
  private readonly subscriber: Redis;
  private readonly topics = new Map<string, Topic>();
  private readonly reconnectListeners: ((downSince: number) => void)[] = [];
  private connectedOnce = false;
  private downSince: number | undefined;

  constructor(
    url: string,
    private readonly prefix: string,
  ) {
    this.publisher = createRedis(url, 'publisher');
    this.subscriber = createRedis(url, 'subscriber');
    this.subscriber.on('message', (channel: string, message: string) => this.deliver(channel, message));
    this.subscriber.on('close', () => {
      if (this.connectedOnce) this.downSince ??= Date.now();
    });
    // ioredis re-subscribes every topic on 'ready'; what was published while it was away is gone.
    this.subscriber.on('ready', () => {
      const since = this.downSince;
      this.connectedOnce = true;
      this.downSince = undefined;
      if (since === undefined) return;
      this.logger.log('subscriber reconnected: consumers look for what they missed');
      for (const listener of this.reconnectListeners) {
        try {
          listener(since);
        } catch (err) {
          this.logger.error(`reconnect listener threw: ${String(err)}`);
        }
      }
    });
  }

  onReconnect(listener: (downSince: number) => void): void {
    this.reconnectListeners.push(listener);
  }

  async publish(topic: string, message: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`bus publish on ${topic}: no answer within ${PUBLISH_TIMEOUT_MS} ms`)),
        PUBLISH_TIMEOUT_MS,
      );
    });
    try {
      // Without an offline queue this rejects at once while Redis is unreachable.
      await Promise.race([this.publisher.publish(this.prefix + topic, message), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async subscribe(topic: string, listener: BusListener): Promise<void> {
    let entry = this.topics.get(topic);
    if (!entry) {
      const active = this.subscriber.subscribe(this.prefix + topic).then(() => undefined);
      entry = { listeners: new Set(), active };
      this.topics.set(topic, entry);
      const created = entry;
      // A failed SUBSCRIBE rejects for every waiting caller; the next subscribe tries again.
      active.catch((err: unknown) => {
        this.logger.warn(`subscribe ${topic} failed: ${String(err)}`);
        if (this.topics.get(topic) === created) this.topics.delete(topic);
      });
    }
    entry.listeners.add(listener);
    await entry.active;
  }

  async unsubscribe(topic: string, listener: BusListener): Promise<void> {
    const entry = this.topics.get(topic);
    if (!entry) return;
    entry.listeners.delete(listener);
    if (entry.listeners.size > 0) return;
    this.topics.delete(topic);
    // Commands on one connection run in order, so a later SUBSCRIBE of this topic wins.
    await this.subscriber.unsubscribe(this.prefix + topic);
  }

  /** Topics with local listeners (for tests and diagnostics). */
  subscribedTopics(): string[] {
    return [...this.topics.keys()];
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.allSettled([
      this.publisher.quit().catch(() => this.publisher.disconnect()),
      this.subscriber.quit().catch(() => this.subscriber.disconnect()),
    ]);
  }

  private deliver(channel: string, message: string): void {
    if (!channel.startsWith(this.prefix)) return;
    const topic = channel.slice(this.prefix.length);
    const entry = this.topics.get(topic);
    if (!entry) return;
    for (const listener of [...entry.listeners]) {
      // A listener's failure is its own; it must not stop the others.
      try {
        listener(message, topic);
      } catch (err) {
        this.logger.error(`listener on ${topic} threw: ${String(err)}`);
      }
    }
  }
}
