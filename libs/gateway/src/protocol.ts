/** Wire format of the gateway: JSON text frames `{"op", "d", "s", "t"}` (see docs/gateway.md). */
import type { ChannelView, PresenceStatus, UserView } from '@cariosan/core';

export const CloseCode = {
  GoingAway: 1001,
  TooLarge: 1009,
  UnknownError: 4000,
  NotAuthenticated: 4001,
  DecodeError: 4002,
  AuthenticationFailed: 4004,
  RateLimited: 4008,
  SessionTimedOut: 4009,
} as const;

export type CloseCodeValue = (typeof CloseCode)[keyof typeof CloseCode];

/** What each close code means, for clients (docs/gateway.md and /api/v1/asyncapi.json). */
export const CLOSE_CODE_MEANING: Record<CloseCodeValue, string> = {
  1001: 'server going away (shutdown): resume on another replica',
  1009: 'frame too large (over 64 KiB)',
  4000: 'unknown error, or the session was resumed on another connection: resume',
  4001: 'not authenticated: no IDENTIFY or RESUME in time',
  4002: 'decode error: bad JSON, a binary frame, an unknown op, a malformed IDENTIFY/RESUME, or a second one',
  4004: 'authentication failed: unknown or revoked token',
  4008: 'rate limited: more than 120 client frames in 60 s, or (reason "too many sessions") the oldest of a user over CARIOS_GATEWAY_MAX_SESSIONS_PER_USER live sessions, ended for good',
  4009: 'session timed out: no heartbeat for 1.5 intervals',
};

/** `d` of the READY dispatch. */
export interface ReadyData {
  sessionId: string;
  user: UserView;
  /** The user's channels (without REST's unreadCount). */
  channels: ChannelView[];
}

/** `d` of the PRESENCE_UPDATE dispatch. */
export interface PresenceUpdateData {
  userId: string;
  status: PresenceStatus;
}

/** `d` of the RESUMED dispatch. */
export interface ResumedData {
  sessionId: string;
}

/** Largest client frame accepted; `ws` closes with 1009 above it. */
export const MAX_FRAME_BYTES = 64 * 1024;
/** Client frames allowed per window per connection before a 4008 close. */
export const FRAME_LIMIT = 120;
export const FRAME_WINDOW_MS = 60_000;

export type ClientFrame =
  | { op: 'IDENTIFY'; token: string }
  | { op: 'RESUME'; token: string; sessionId: string; seq: number }
  | { op: 'HEARTBEAT'; seq: number | null };

export type ParseResult =
  { ok: true; frame: ClientFrame } | { ok: false; code: CloseCodeValue; reason: string };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const fail = (reason: string): ParseResult => ({ ok: false, code: CloseCode.DecodeError, reason });

/** Decodes one client text frame; never throws. */
export function parseClientFrame(text: string): ParseResult {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return fail('invalid JSON');
  }
  if (!isObject(raw) || typeof raw.op !== 'string') return fail('a frame is an object with a string "op"');
  const d = raw.d;
  switch (raw.op) {
    case 'IDENTIFY': {
      if (!isObject(d) || typeof d.token !== 'string') return fail('IDENTIFY needs d.token');
      return { ok: true, frame: { op: 'IDENTIFY', token: d.token } };
    }
    case 'RESUME': {
      if (!isObject(d) || typeof d.token !== 'string' || typeof d.sessionId !== 'string') {
        return fail('RESUME needs d.token, d.sessionId and d.seq');
      }
      if (typeof d.seq !== 'number' || !Number.isSafeInteger(d.seq) || d.seq < 0)
        return fail('RESUME d.seq must be a whole number');
      return { ok: true, frame: { op: 'RESUME', token: d.token, sessionId: d.sessionId, seq: d.seq } };
    }
    case 'HEARTBEAT': {
      // Lenient on purpose: `{seq}`, a bare number or nothing all count as a heartbeat.
      const seq = isObject(d) && typeof d.seq === 'number' ? d.seq : typeof d === 'number' ? d : null;
      return { ok: true, frame: { op: 'HEARTBEAT', seq } };
    }
    default:
      return fail(`unknown op ${JSON.stringify(raw.op).slice(0, 40)}`);
  }
}

export function helloFrame(heartbeatInterval: number): string {
  return `{"op":"HELLO","d":{"heartbeatInterval":${heartbeatInterval}}}`;
}

export const HEARTBEAT_ACK_FRAME = '{"op":"HEARTBEAT_ACK","d":null}';
export const INVALID_SESSION_FRAME = '{"op":"INVALID_SESSION","d":{"resumable":false}}';

/**
 * A DISPATCH frame around an already-serialised `d`: the payload is serialised once per
 * event and only the per-session `s` differs between sessions.
 */
export function dispatchFrame(type: string, seq: number, dataJson: string): string {
  return '{"op":"DISPATCH","t":"' + type + '","s":' + seq + ',"d":' + dataJson + '}';
}
