import type { DomainEventType } from '../events/domain-events';

/** An event whose transaction committed, ready for the bus: its DomainEvent JSON and where it goes. */
export interface CommittedEvent {
  id: string;
  channelId: string;
  /** The whole DomainEvent as JSON text (see eventJson). */
  json: string;
  /** Also published on `user:<id>` for each of these. */
  notifyUserIds: readonly string[];
}

/**
 * A DomainEvent as JSON text around `dataJson`, which is passed through as stored (the message
 * view Postgres built, or the outbox payload) instead of being parsed and serialised again.
 * `data` comes last, so a consumer reads the small header and slices `data` out as text (see
 * the gateway's parseBusEvent) without parsing it.
 */
export function eventJson(
  id: string,
  type: DomainEventType,
  channelId: string,
  seq: number,
  dataJson: string,
  createdAt: string,
): string {
  return `{"id":"${id}","type":"${type}","channelId":"${channelId}","seq":${seq},"createdAt":"${createdAt}","data":${dataJson}}`;
}
