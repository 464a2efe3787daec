import type { AttachmentUrls } from '@cariosan/attachments';
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
 * event: `{"type","timestamp","data"}` as the Standard Webhooks specification has it. Message
 * payloads hold attachment keys: their download URLs are made here, at each attempt, so a retry
 * hours later still carries URLs that work (with a private bucket too).
 */
export async function buildDeliveryBody(event: DeliveryEvent, urls?: AttachmentUrls): Promise<string> {
  const data = urls ? await urls.withUrls(event.payload) : event.payload;
  return `{"type":"${event.type}","timestamp":"${event.createdAt}","data":${data}}`;
}
