import { WebSocket } from 'ws';
import type { PresenceSession } from '@cariosan/core';
import type { ConnectionFrameLimiter } from '@cariosan/ratelimit';
import { CloseCode } from './protocol';
import type { Session, SessionSocket } from './session';

/** Bytes a socket may have queued before it counts as a slow consumer and is closed. */
export const SLOW_CONSUMER_BYTES = 4 * 1024 * 1024;
/** How long a closing socket may take to answer the close handshake before it is cut. */
const CLOSE_GRACE_MS = 2000;

export type ConnectionState = 'new' | 'identifying' | 'ready' | 'closed';

/** One WebSocket: protocol state, deadlines and the per-connection frame budget. */
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
    private readonly frames: ConnectionFrameLimiter,
    private readonly onSlowConsumer: () => void,
  ) {}

  /** Counts a client frame; false when the connection went over its budget. */
  countFrame(): boolean {
    return this.frames.consume();
  }

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
    try {
      if (hard) {
        this.ws.terminate();
        return;
      }
      this.ws.close(code, reason);
      setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS).unref();
    } catch {
      this.ws.terminate();
    }
  }
}
