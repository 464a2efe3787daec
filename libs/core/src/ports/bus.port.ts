import type { LoggerService } from '@nestjs/common';
import { describeError } from '../errors/outage';

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

/** How long a failed subscription waits before it is tried again. */
const RESUBSCRIBE_MS = 2000;

/**
 * Subscribes for the life of the process: a SUBSCRIBE that fails (Redis away) is logged and tried
 * again every 2 s until it holds, or until `stopped()` says the caller is shutting down.
 */
export function subscribeUntilDone(
  bus: BusPort,
  topic: string,
  listener: BusListener,
  logger: Pick<LoggerService, 'warn'>,
  stopped: () => boolean = () => false,
): void {
  bus.subscribe(topic, listener).catch((err: unknown) => {
    if (stopped()) return;
    logger.warn(`subscribing ${topic} failed, retrying: ${describeError(err).message}`);
    setTimeout(() => subscribeUntilDone(bus, topic, listener, logger, stopped), RESUBSCRIBE_MS).unref();
  });
}
