import type { DomainEventType } from '@cariosan/core';

/** What a worker claimed: one event for one endpoint, with the payload as stored (JSON text). */
export interface DeliveryEvent {
  eventId: string;
  type: DomainEventType;
  channelId: string;
  /** The event's `data` as JSON text, a copy made in the event's transaction. */
  payload: string;
  /** ISO-8601 UTC, when the event was stored. */
  createdAt: string;
}

/**
 * THE place where a delivery's body is built, once per attempt, from the stored copy of the
 * event: `{"type","timestamp","data"}` as the Standard Webhooks specification has it.
 *
 * Hook point for attachments (issue 9): message payloads carry attachment keys whose URLs are made
 * at dispatch time. After merging, call @cariosan/attachments' dispatch hook on `event.payload`
 * here (for message.created / message.updated) before it is put into the body; this function may
 * become async for that, its one caller (DeliveryWorker.attempt) awaits it either way.
 */
export function buildDeliveryBody(event: DeliveryEvent): Promise<string> | string {
  return `{"type":"${event.type}","timestamp":"${event.createdAt}","data":${event.payload}}`;
}
