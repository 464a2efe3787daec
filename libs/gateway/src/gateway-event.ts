import { type DomainEventType, GATEWAY_DISPATCH } from '@cariosan/core';

/**
 * A domain event as the gateway handles it: the header parsed, `data` kept as the JSON text it
 * arrived as (from the bus or the outbox), so a frame is built by concatenation, never by
 * serialising the payload again. One object per event per replica, shared by every session.
 */
export interface GatewayEvent {
  id: string;
  type: DomainEventType;
  /** Dispatch type (`t`). */
  t: string;
  channelId: string;
  /** The event's place in its channel (1, 2, 3...); 0 for typing, which is not stored. */
  seq: number;
  /** Typing only: the channel seq it follows. */
  after: number;
  createdAt: string;
  /** `d`, as JSON text. */
  data: string;
  /** For member events: the user who joined or left. */
  subject: string | undefined;
}

const DATA_KEY = ',"data":';

interface Header {
  id?: unknown;
  type?: unknown;
  channelId?: unknown;
  seq?: unknown;
  after?: unknown;
  createdAt?: unknown;
}

/**
 * Reads a bus message `{"id","type","channelId","seq"|"after","createdAt","data"}`: parses the
 * header only and slices `data` out as text. A message in another key order is parsed whole
 * (and its data serialised once). Undefined when it is not an event the gateway dispatches.
 */
export function parseBusEvent(text: string): GatewayEvent | undefined {
  let header: Header;
  let data: string;
  const at = text.indexOf(DATA_KEY);
  try {
    const sliced =
      at > 0 && text.charCodeAt(text.length - 1) === 125 /* } */
        ? (JSON.parse(text.slice(0, at) + '}') as Header)
        : undefined;
    // A header without createdAt: data was not last (an older writer), parse it all.
    if (sliced && typeof sliced === 'object' && sliced.createdAt !== undefined) {
      header = sliced;
      data = text.slice(at + DATA_KEY.length, text.length - 1);
    } else {
      const whole = JSON.parse(text) as Header & { data?: unknown };
      header = whole;
      data = JSON.stringify(whole.data ?? null);
    }
  } catch {
    return undefined;
  }
  if (typeof header !== 'object' || header === null) return undefined;
  const { id, type, channelId, seq, after, createdAt } = header;
  if (typeof id !== 'string' || typeof channelId !== 'string' || typeof type !== 'string') return undefined;
  const t = GATEWAY_DISPATCH[type as DomainEventType];
  if (!t) return undefined;
  const typing = type === 'typing.started';
  if (!typing && (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1)) return undefined;
  return makeEvent(
    id,
    type as DomainEventType,
    channelId,
    typing ? 0 : (seq as number),
    typing && typeof after === 'number' ? after : 0,
    typeof createdAt === 'string' ? createdAt : '',
    data,
  );
}

export function makeEvent(
  id: string,
  type: DomainEventType,
  channelId: string,
  seq: number,
  after: number,
  createdAt: string,
  data: string,
): GatewayEvent {
  return {
    id,
    type,
    t: GATEWAY_DISPATCH[type],
    channelId,
    seq,
    after,
    createdAt,
    data,
    subject: type === 'member.joined' || type === 'member.left' ? subjectOf(data) : undefined,
  };
}

function subjectOf(data: string): string | undefined {
  try {
    const userId = (JSON.parse(data) as { userId?: unknown } | null)?.userId;
    return typeof userId === 'string' ? userId : undefined;
  } catch {
    return undefined;
  }
}

/** The events that make a user a member of the channel they belong to. */
export function isJoinOf(e: GatewayEvent, userId: string, onUserTopic: boolean): boolean {
  return (
    (e.type === 'member.joined' && e.subject === userId) || (e.type === 'channel.created' && onUserTopic)
  );
}
