import type { FromSchema, JSONSchema } from 'json-schema-to-ts';
import {
  CHANNEL_VIEW_SCHEMA,
  DOMAIN_EVENT_EXAMPLES,
  DOMAIN_EVENT_SCHEMAS,
  DomainEventType,
  GATEWAY_DISPATCH,
  sameType,
  USER_VIEW_SCHEMA,
} from '@cariosan/core';
import {
  CLOSE_CODE_MEANING,
  FRAME_LIMIT,
  FRAME_WINDOW_MS,
  MAX_FRAME_BYTES,
  PresenceUpdateData,
  ReadyData,
  ResumedData,
} from './protocol';

/**
 * The gateway's machine-readable contract (AsyncAPI 3.0), built from the code's own tables: one
 * DISPATCH message per entry of GATEWAY_DISPATCH with its payload schema from
 * DOMAIN_EVENT_SCHEMAS, the close codes from CLOSE_CODE_MEANING. Served at /api/v1/asyncapi.json.
 * It describes the server: `send` is what the server sends, `receive` what it accepts.
 */

const READY_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['sessionId', 'user', 'channels'],
  properties: {
    sessionId: { type: 'string', description: 'keep it to RESUME' },
    user: USER_VIEW_SCHEMA,
    channels: { type: 'array', items: CHANNEL_VIEW_SCHEMA, description: 'the user’s channels' },
  },
} as const satisfies JSONSchema;
sameType<FromSchema<typeof READY_SCHEMA>, ReadyData>(true);

const RESUMED_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['sessionId'],
  properties: { sessionId: { type: 'string' } },
} as const satisfies JSONSchema;
sameType<FromSchema<typeof RESUMED_SCHEMA>, ResumedData>(true);

const PRESENCE_UPDATE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['userId', 'status'],
  properties: {
    userId: { type: 'string' },
    status: { type: 'string', enum: ['online', 'idle', 'dnd', 'offline'] },
  },
} as const satisfies JSONSchema;
sameType<FromSchema<typeof PRESENCE_UPDATE_SCHEMA>, PresenceUpdateData>(true);

const seq = {
  type: 'integer',
  minimum: 1,
  description: 'the session’s sequence number: 1, 2, 3... without gaps',
} as const satisfies JSONSchema;

interface Message {
  name: string;
  title: string;
  summary: string;
  payload: JSONSchema;
  examples?: { name: string; payload: unknown }[];
}

function frame(op: string, d: JSONSchema, extra: Record<string, JSONSchema> = {}): JSONSchema {
  return {
    type: 'object',
    required: ['op', 'd', ...Object.keys(extra)],
    properties: { op: { const: op }, d, ...extra },
  };
}

function dispatch(type: string, d: JSONSchema, summary: string, example: unknown, s = 7): Message {
  return {
    name: type,
    title: `DISPATCH ${type}`,
    summary,
    payload: frame('DISPATCH', d, { t: { const: type }, s: seq }),
    examples: [{ name: type, payload: { op: 'DISPATCH', t: type, s, d: example } }],
  };
}

const EVENT_SUMMARY: { [K in DomainEventType]: string } = {
  'message.created': 'A message was posted in one of the user’s channels',
  'message.updated': 'A message was edited',
  'message.deleted': 'A message was deleted (a deleted thread root is preceded by one per reply)',
  'reaction.added': 'Someone reacted to a message',
  'reaction.removed': 'Someone removed their reaction',
  'member.joined':
    'Someone joined or was added; for the user themselves, the channel’s events follow from now on',
  'member.left': 'Someone left or was removed; for the user themselves, the last event of that channel',
  'channel.created':
    'A channel the user is a member of was created (also every new direct channel of theirs)',
  'channel.updated': 'A channel was renamed or its topic changed',
  'channel.archived': 'A channel was archived: history stays readable, writes answer 403',
  'typing.started': 'Someone is typing (not stored: to connected sessions only, never replayed on RESUME)',
};

export function buildAsyncApi(version: string): Record<string, unknown> {
  const messages: Record<string, Message> = {
    HELLO: {
      name: 'HELLO',
      title: 'HELLO',
      summary: 'First frame on every connection',
      payload: frame('HELLO', {
        type: 'object',
        required: ['heartbeatInterval'],
        properties: { heartbeatInterval: { type: 'integer', description: 'ms between client HEARTBEATs' } },
      }),
      examples: [{ name: 'hello', payload: { op: 'HELLO', d: { heartbeatInterval: 30000 } } }],
    },
    HEARTBEAT_ACK: {
      name: 'HEARTBEAT_ACK',
      title: 'HEARTBEAT_ACK',
      summary: 'Answer to every HEARTBEAT',
      payload: frame('HEARTBEAT_ACK', { type: 'null' }),
    },
    INVALID_SESSION: {
      name: 'INVALID_SESSION',
      title: 'INVALID_SESSION',
      summary: 'The RESUME cannot be honoured: IDENTIFY again on the same socket',
      payload: frame('INVALID_SESSION', {
        type: 'object',
        required: ['resumable'],
        properties: { resumable: { const: false } },
      }),
    },
    READY: dispatch(
      'READY',
      READY_SCHEMA,
      'Answer to IDENTIFY (s = 1)',
      { sessionId: '9f0c2d7e5b1a4c3d8e6f7a9b0c1d2e3f', user: {}, channels: [] },
      1,
    ),
    RESUMED: dispatch('RESUMED', RESUMED_SCHEMA, 'Replay after RESUME is complete; live events follow', {
      sessionId: '9f0c2d7e5b1a4c3d8e6f7a9b0c1d2e3f',
    }),
  };
  for (const [event, type] of Object.entries(GATEWAY_DISPATCH) as [DomainEventType, string][]) {
    messages[type] = dispatch(
      type,
      DOMAIN_EVENT_SCHEMAS[event],
      `${EVENT_SUMMARY[event]} (domain event ${event})`,
      DOMAIN_EVENT_EXAMPLES[event],
    );
  }
  messages.PRESENCE_UPDATE = dispatch(
    'PRESENCE_UPDATE',
    PRESENCE_UPDATE_SCHEMA,
    'A user sharing a channel with this one changed presence: once per change, to connected ' +
      'sockets only (not stored; GET /api/v1/presence after a resume)',
    { userId: '41781420541640704', status: 'dnd' },
  );
  const ready = messages.READY!.examples![0]!.payload as { d: Record<string, unknown> };
  ready.d.user = {
    id: '41781420541640704',
    username: 'ada',
    displayName: 'Ada Lovelace',
    isAdmin: true,
    isBot: false,
    createdAt: '2026-03-12T09:00:00.000Z',
  };
  ready.d.channels = [DOMAIN_EVENT_EXAMPLES['channel.created']];

  const clientMessages: Record<string, Message> = {
    IDENTIFY: {
      name: 'IDENTIFY',
      title: 'IDENTIFY',
      summary: 'Start a session with a bearer token; answered by DISPATCH READY',
      payload: frame('IDENTIFY', {
        type: 'object',
        required: ['token'],
        properties: { token: { type: 'string', description: 'the REST bearer token (cst_...)' } },
      }),
      examples: [{ name: 'identify', payload: { op: 'IDENTIFY', d: { token: 'cst_...' } } }],
    },
    RESUME: {
      name: 'RESUME',
      title: 'RESUME',
      summary: 'Continue a session after a disconnect, on any replica, within the resume window',
      payload: frame('RESUME', {
        type: 'object',
        required: ['token', 'sessionId', 'seq'],
        properties: {
          token: { type: 'string', description: 'any valid token of the session’s user' },
          sessionId: { type: 'string' },
          seq: { type: 'integer', minimum: 0, description: 'the last s received' },
        },
      }),
    },
    HEARTBEAT: {
      name: 'HEARTBEAT',
      title: 'HEARTBEAT',
      summary: 'Keep the connection alive; send one every heartbeatInterval',
      payload: frame('HEARTBEAT', {
        description: '{seq}, a bare number or null: all count',
        oneOf: [
          { type: 'object', properties: { seq: { type: ['integer', 'null'] } } },
          { type: 'integer' },
          { type: 'null' },
        ],
      }),
      examples: [{ name: 'heartbeat', payload: { op: 'HEARTBEAT', d: { seq: 7 } } }],
    },
  };

  const all = { ...messages, ...clientMessages };
  const ref = (name: string) => ({ $ref: `#/channels/gateway/messages/${name}` });
  const operations: Record<string, unknown> = {};
  const describe = (action: 'send' | 'receive', set: Record<string, Message>) => {
    for (const [name, message] of Object.entries(set)) {
      operations[`${action}${name}`] = {
        action,
        channel: { $ref: '#/channels/gateway' },
        summary: message.summary,
        messages: [ref(name)],
      };
    }
  };
  describe('send', messages);
  describe('receive', clientMessages);

  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Cariosan gateway',
      version,
      description:
        'The realtime WebSocket protocol: JSON text frames {"op","d","s","t"}. Connect, read HELLO, send IDENTIFY ' +
        'with a REST token, receive DISPATCH READY and then a DISPATCH for every event of your channels, numbered ' +
        `without gaps. Send HEARTBEAT every heartbeatInterval. Client frames are limited to ${MAX_FRAME_BYTES / 1024} ` +
        `KiB and ${FRAME_LIMIT} per ${FRAME_WINDOW_MS / 1000} s. Close codes: ` +
        Object.entries(CLOSE_CODE_MEANING)
          .map(([code, meaning]) => `${code} ${meaning}`)
          .join('; ') +
        '. This document describes the server: "send" operations are frames the server sends, "receive" those it ' +
        'accepts. Prose, resume rules and examples: docs/gateway.md in the repository.',
    },
    defaultContentType: 'application/json',
    servers: {
      local: {
        host: 'localhost:8080',
        protocol: 'ws',
        description: 'the HTTP port of any replica (wss behind a TLS proxy); no sticky sessions needed',
      },
    },
    channels: {
      gateway: {
        address: '/gateway',
        title: 'The gateway socket',
        messages: Object.fromEntries(
          Object.keys(all).map((n) => [n, { $ref: `#/components/messages/${n}` }]),
        ),
        'x-close-codes': Object.entries(CLOSE_CODE_MEANING).map(([code, meaning]) => ({
          code: Number(code),
          meaning,
        })),
      },
    },
    operations,
    components: { messages: all },
  };
}
