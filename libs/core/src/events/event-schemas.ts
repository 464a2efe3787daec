import type { FromSchema, JSONSchema } from 'json-schema-to-ts';
import type {
  AttachmentView,
  ChannelView,
  DomainEventMap,
  DomainEventType,
  MemberEventData,
  MessageView,
  ReactionEventData,
  UserView,
} from './domain-events';

/**
 * JSON Schemas of the domain event payloads, for the machine-readable gateway contract
 * (/api/v1/asyncapi.json) and whoever else describes events (webhooks). Each schema is checked
 * at compile time against the TypeScript type in domain-events.ts: change a view there and the
 * build fails until its schema here says the same, so the published contract cannot drift.
 */

/** True only when A and B are the same type (optional and nullable fields included). */
type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
/** `sameType<FromSchema<typeof S>, T>(true)` compiles only when schema S describes exactly T. */
export const sameType = <A, B>(proof: Equals<A, B>) => proof;

const id = { type: 'string', pattern: '^[0-9]{1,19}$', description: 'a Snowflake id' } as const;
const timestamp = { type: 'string', format: 'date-time' } as const;
const nullableTimestamp = { type: ['string', 'null'], format: 'date-time' } as const;

const authorSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'username', 'displayName'],
  properties: { id, username: { type: 'string' }, displayName: { type: 'string' } },
} as const satisfies JSONSchema;

export const USER_VIEW_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'username', 'displayName', 'isAdmin', 'isBot', 'createdAt'],
  properties: {
    id,
    username: { type: 'string' },
    displayName: { type: 'string' },
    isAdmin: { type: 'boolean' },
    isBot: { type: 'boolean' },
    createdAt: timestamp,
  },
} as const satisfies JSONSchema;
sameType<FromSchema<typeof USER_VIEW_SCHEMA>, UserView>(true);

export const CHANNEL_VIEW_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'name', 'kind', 'topic', 'ownerId', 'archived', 'createdAt'],
  properties: {
    id,
    name: { type: 'string' },
    kind: { type: 'string', enum: ['public', 'private', 'dm'] },
    topic: { type: 'string' },
    ownerId: { type: ['string', 'null'], description: 'null for direct channels and after the owner left' },
    archived: { type: 'boolean' },
    createdAt: timestamp,
  },
} as const satisfies JSONSchema;
sameType<FromSchema<typeof CHANNEL_VIEW_SCHEMA>, ChannelView>(true);

const attachmentSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'filename', 'contentType', 'size', 'url'],
  properties: {
    id,
    filename: { type: 'string' },
    contentType: { type: 'string' },
    size: { type: 'number' },
    url: { type: 'string' },
  },
} as const satisfies JSONSchema;
sameType<FromSchema<typeof attachmentSchema>, AttachmentView>(true);

export const MESSAGE_VIEW_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: [
    'id',
    'channelId',
    'author',
    'content',
    'nonce',
    'parentId',
    'attachments',
    'mentions',
    'reactions',
    'createdAt',
    'editedAt',
  ],
  properties: {
    id,
    channelId: id,
    author: authorSchema,
    content: { type: 'string' },
    nonce: { type: ['string', 'null'] },
    parentId: { type: ['string', 'null'], description: 'the thread root, for replies' },
    attachments: { type: 'array', items: attachmentSchema },
    mentions: { type: 'array', items: id, description: 'ids of channel members mentioned with @username' },
    reactions: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['emoji', 'count', 'me'],
        properties: {
          emoji: { type: 'string' },
          count: { type: 'number' },
          me: { type: 'boolean', description: 'always false in events: clients track their own reactions' },
        },
      },
    },
    createdAt: timestamp,
    editedAt: nullableTimestamp,
  },
} as const satisfies JSONSchema;
sameType<FromSchema<typeof MESSAGE_VIEW_SCHEMA>, MessageView>(true);

const reactionSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['channelId', 'messageId', 'userId', 'emoji'],
  properties: { channelId: id, messageId: id, userId: id, emoji: { type: 'string' } },
} as const satisfies JSONSchema;
sameType<FromSchema<typeof reactionSchema>, ReactionEventData>(true);

const memberSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['channelId', 'userId'],
  properties: {
    channelId: id,
    userId: id,
    user: { ...authorSchema, description: 'on joins: who joined' },
    role: {
      type: 'string',
      enum: ['owner', 'member'],
      description:
        'on joins: member (a creator joins as owner with CHANNEL_CREATE); on leaves: the role held',
    },
  },
} as const satisfies JSONSchema;
sameType<FromSchema<typeof memberSchema>, MemberEventData>(true);

const messageDeletedSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'channelId'],
  properties: { id, channelId: id },
} as const satisfies JSONSchema;
sameType<FromSchema<typeof messageDeletedSchema>, DomainEventMap['message.deleted']>(true);

const typingSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['channelId', 'userId'],
  properties: { channelId: id, userId: id },
} as const satisfies JSONSchema;
sameType<FromSchema<typeof typingSchema>, DomainEventMap['typing.started']>(true);

/** The payload schema of every domain event; a new event type does not compile until it has one. */
export const DOMAIN_EVENT_SCHEMAS: { [K in DomainEventType]: JSONSchema } = {
  'message.created': MESSAGE_VIEW_SCHEMA,
  'message.updated': MESSAGE_VIEW_SCHEMA,
  'message.deleted': messageDeletedSchema,
  'reaction.added': reactionSchema,
  'reaction.removed': reactionSchema,
  'member.joined': memberSchema,
  'member.left': memberSchema,
  'channel.created': CHANNEL_VIEW_SCHEMA,
  'channel.updated': CHANNEL_VIEW_SCHEMA,
  'channel.archived': CHANNEL_VIEW_SCHEMA,
  'typing.started': typingSchema,
};

/** One example payload per event type, for the documentation (checked against the schemas in a test). */
export const DOMAIN_EVENT_EXAMPLES: { [K in DomainEventType]: DomainEventMap[K] } = (() => {
  const author = { id: '41781420541640704', username: 'ada', displayName: 'Ada Lovelace' };
  const message: MessageView = {
    id: '41781561474449408',
    channelId: '41781487260434432',
    author,
    content: 'Hello @grace',
    nonce: 'b3f1c2',
    parentId: null,
    attachments: [],
    mentions: ['41781444314955776'],
    reactions: [{ emoji: '👍', count: 1, me: false }],
    createdAt: '2026-03-12T09:30:00.000Z',
    editedAt: null,
  };
  const channel: ChannelView = {
    id: '41781487260434432',
    name: 'general',
    kind: 'public',
    topic: 'Anything goes',
    ownerId: author.id,
    archived: false,
    createdAt: '2026-03-12T09:29:42.000Z',
  };
  const reaction = { channelId: channel.id, messageId: message.id, userId: author.id, emoji: '👍' };
  return {
    'message.created': message,
    'message.updated': { ...message, content: 'Hello @grace!', editedAt: '2026-03-12T09:31:05.000Z' },
    'message.deleted': { id: message.id, channelId: channel.id },
    'reaction.added': reaction,
    'reaction.removed': reaction,
    'member.joined': { channelId: channel.id, userId: author.id, user: author, role: 'member' },
    'member.left': { channelId: channel.id, userId: author.id, role: 'member' },
    'channel.created': channel,
    'channel.updated': { ...channel, topic: 'Announcements only' },
    'channel.archived': { ...channel, archived: true },
    'typing.started': { channelId: channel.id, userId: author.id },
  };
})();
