import type { BusListener, BusPort } from './bus.port';

/** The embedded bus: one process, so publishing is a local call. */
export class InProcessBus implements BusPort {
  private readonly topics = new Map<string, Set<BusListener>>();

  async publish(topic: string, message: string): Promise<void> {
    for (const listener of this.topics.get(topic) ?? []) {
      // A listener's failure is its own; it must not stop the others.
      try {
        listener(message, topic);
      } catch {
        /* listeners log their own errors */
      }
    }
  }

  async subscribe(topic: string, listener: BusListener): Promise<void> {
    let set = this.topics.get(topic);
    if (!set) this.topics.set(topic, (set = new Set()));
    set.add(listener);
  }

  onReconnect(): void {
    // One process: nothing is ever lost in transit.
  }

  async unsubscribe(topic: string, listener: BusListener): Promise<void> {
    const set = this.topics.get(topic);
    set?.delete(listener);
    if (set?.size === 0) this.topics.delete(topic);
  }
}
