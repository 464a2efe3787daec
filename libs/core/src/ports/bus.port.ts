/**
 * Publish/subscribe between replicas. Messages are already-serialised strings so that a
 * fanout serialises an event once. Redis in a cluster, in-process when embedded.
 */
export interface BusPort {
  publish(topic: string, message: string): Promise<void>;
  /** Resolves once the subscription is active. */
  subscribe(topic: string, listener: BusListener): Promise<void>;
  unsubscribe(topic: string, listener: BusListener): Promise<void>;
  /**
   * Called after the subscribing connection came back from an outage (messages published
   * meanwhile were lost), with the wall-clock ms when it went down. Consumers look for gaps.
   * The in-process bus never loses a message and never calls it.
   */
  onReconnect(listener: (downSince: number) => void): void;
}

export type BusListener = (message: string, topic: string) => void;

export const BUS = Symbol('BUS');
