import { WebSocket } from 'ws';
import type { PresenceSession } from '@cariosan/core';
import { closeSocket } from './gateway-ws.adapter';
import { CloseCode } from './protocol';
import type { Session, SessionSocket } from './session';

/** Bytes a socket may have queued before it counts as a slow consumer and is closed. */
export const SLOW_CONSUMER_BYTES = 4 * 1024 * 1024;

export type ConnectionState = 'new' | 'identifying' | 'ready' | 'closed';

/** One WebSocket: its protocol state and deadlines, and the one place frames are written to it. */
export class GatewayConnection implements SessionSocket {
  state: ConnectionState = 'new';
  session: Session | undefined;
  /** Start of the IDENTIFY deadline (reset after INVALID_SESSION). */
  waitingSince = Date.now();
  lastHeartbeatAt = Date.now();
  /** Set once it no longer counts against its IP's unidentified connections. */
  identified = false;
  /** Its entry in the presence store while it carries a live session. */
  presence: PresenceSession | undefined;

  constructor(
    readonly ws: WebSocket,
    readonly ip: string,
    private readonly onSlowConsumer: () => void,
  ) {}

  send(frame: string): void {
    if (this.state === 'closed' || this.ws.readyState !== WebSocket.OPEN) return;
    if (this.ws.bufferedAmount > SLOW_CONSUMER_BYTES) {
      // It cannot keep up: stop queueing for it. Its session keeps storing, so it can resume.
      this.onSlowConsumer();
      this.close(CloseCode.UnknownError, 'slow consumer', true);
      return;
    }
    this.ws.send(frame);
  }

  /** Closes with a code; `hard` cuts the socket at once instead of waiting for its queue. */
  close(code: number, reason: string, hard = false): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    closeSocket(this.ws, code, reason, hard);
  }
}
