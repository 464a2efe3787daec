/**
 * The one map from domain event type to payload. The outbox stores these, the gateway
 * dispatches them (see GATEWAY_DISPATCH) and webhooks deliver them as `data`.
 */
export interface UserView {
  id: string;
  username: string;
  displayName: string;
  isAdmin: boolean;
  isBot: boolean;
  createdAt: string;
}

export type ChannelKind = 'public' | 'private' | 'dm';

export interface ChannelView {
  id: string;
  name: string;
  kind: ChannelKind;
  topic: string;
  ownerId: string | null;
  archived: boolean;
  createdAt: string;
}

export interface AttachmentView {
  id: string;
  filename: string;
  contentType: string;
  size: number;
  url: string;
}

export interface MessageView {
  id: string;
  channelId: string;
  author: { id: string; username: string; displayName: string };
  content: string;
  nonce: string | null;
  parentId: string | null;
  attachments: AttachmentView[];
  mentions: string[];
  /** `me` is per caller; events carry `me: false` and clients track their own reactions. */
  reactions: { emoji: string; count: number; me: boolean }[];
  createdAt: string;
  editedAt: string | null;
}

export interface ReactionEventData {
  channelId: string;
  messageId: string;
  userId: string;
  emoji: string;
}

export interface MemberEventData {
  channelId: string;
  userId: string;
  user?: { id: string; username: string; displayName: string };
  role?: 'owner' | 'member';
}

export interface DomainEventMap {
  'message.created': MessageView;
  'message.updated': MessageView;
  'message.deleted': { id: string; channelId: string };
  'reaction.added': ReactionEventData;
  'reaction.removed': ReactionEventData;
  'member.joined': MemberEventData;
  'member.left': MemberEventData;
  'channel.created': ChannelView;
  'channel.updated': ChannelView;
  'channel.archived': ChannelView;
  'typing.started': { channelId: string; userId: string };
}

export type DomainEventType = keyof DomainEventMap;

/**
 * An event as it travels on the bus: `{"id","type","channelId","seq","createdAt","data"}`, `data`
 * last so consumers can slice it out as text.
 * Bus order is not guaranteed, not even within a channel (each writer publishes its own events
 * after its commit; a sweeper publishes what a writer left behind): consumers order and detect
 * gaps by `seq`, and dedupe by `id`.
 */
export interface DomainEvent<T extends DomainEventType = DomainEventType> {
  /** Unique and stable: the webhook-id on every delivery attempt, the dedup key for consumers. */
  id: string;
  type: T;
  channelId: string;
  /**
   * The event's place in its channel: 1, 2, 3... without gaps, in commit order, assigned in the
   * write's transaction and stored with the event in the outbox (range reads by channel and seq).
   * Absent on `typing.started`, which is not stored.
   */
  seq?: number;
  /**
   * `typing.started` only: the channel's seq when the typing was announced. A gateway delivers it
   * once it has delivered the channel's events up to that seq, to the members at that point.
   */
  after?: number;
  createdAt: string;
  data: DomainEventMap[T];
}

/** Gateway dispatch type for each domain event. */
export const GATEWAY_DISPATCH: { [K in DomainEventType]: string } = {
  'message.created': 'MESSAGE_CREATE',
  'message.updated': 'MESSAGE_UPDATE',
  'message.deleted': 'MESSAGE_DELETE',
  'reaction.added': 'REACTION_ADD',
  'reaction.removed': 'REACTION_REMOVE',
  'member.joined': 'CHANNEL_MEMBER_ADD',
  'member.left': 'CHANNEL_MEMBER_REMOVE',
  'channel.created': 'CHANNEL_CREATE',
  'channel.updated': 'CHANNEL_UPDATE',
  'channel.archived': 'CHANNEL_DELETE',
  'typing.started': 'TYPING_START',
};

/** The event types a webhook may subscribe to (the contract leaves out the ephemeral ones). */
export const WEBHOOK_EVENT_TYPES = [
  'message.created',
  'message.updated',
  'message.deleted',
  'reaction.added',
  'member.joined',
  'member.left',
  'channel.created',
  'channel.updated',
  'channel.archived',
] as const satisfies readonly DomainEventType[];
