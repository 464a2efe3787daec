import type { Logger } from '@nestjs/common';
import { dispatchFrame } from './protocol';
import type { SessionStorePort } from './session-store/session-store.port';

/** The socket side of a session: what the gateway connection offers it. */
export interface SessionSocket {
  send(frame: string): void;
}

interface PendingEvent {
  eventId: string;
  type: string;
  dataJson: string;
}

/** Event ids remembered per session to drop the copy that arrives on a second topic. */
const SEEN_IDS = 1024;

/**
 * One gateway session: its numbering, the channels it follows and, while connected, its
 * socket. It outlives the socket for the resume window, still numbering and storing events.
 */
export class Session {
  seq = 0;
  socket: SessionSocket | undefined;
  detachedAt: number | undefined = Date.now();
  readonly channels = new Set<string>();
  private readonly seen = new Set<string>();
  /**
   * While READY, a replay or a channel join is being prepared, events wait here unnumbered.
   * Counted, because a join may start while a replay is still being prepared.
   */
  private bufferHolds = 1;
  private buffered: PendingEvent[] = [];

  constructor(
    readonly id: string,
    readonly userId: string,
    public tokenHash: string,
    /** Random per session object: the store refuses writes from a replaced owner. */
    readonly owner: string,
    private readonly store: SessionStorePort,
    private readonly onLost: (session: Session) => void,
    private readonly logger: Logger,
  ) {}

  attach(socket: SessionSocket): void {
    this.socket = socket;
    this.detachedAt = undefined;
  }

  detach(): void {
    this.socket = undefined;
    this.detachedAt = Date.now();
  }

  /** Takes an event for this session; false when it was a duplicate. */
  deliver(eventId: string, type: string, dataJson: string): boolean {
    if (eventId && this.seen.has(eventId)) return false;
    if (this.bufferHolds > 0) {
      this.buffered.push({ eventId, type, dataJson });
      return true;
    }
    this.remember(eventId);
    this.emit(type, dataJson, eventId);
    return true;
  }

  startBuffering(): void {
    this.bufferHolds++;
  }

  /** Queues events ahead of those buffered live (a replay's gap fill is older than them). */
  prependBuffered(events: PendingEvent[]): void {
    this.buffered = [...events, ...this.buffered];
  }

  /** Numbers and sends everything buffered (dropping what the replay already covered). */
  finishBuffering(): void {
    this.bufferHolds = Math.max(0, this.bufferHolds - 1);
    if (this.bufferHolds > 0) return;
    const pending = this.buffered;
    this.buffered = [];
    for (const e of pending) {
      if (e.eventId && this.seen.has(e.eventId)) continue;
      this.remember(e.eventId);
      this.emit(e.type, e.dataJson, e.eventId);
    }
  }

  remember(eventId: string): void {
    if (!eventId) return;
    this.seen.add(eventId);
    if (this.seen.size > SEEN_IDS) this.seen.delete(this.seen.values().next().value!);
  }

  /**
   * Numbers a frame and stores it; it goes to the socket only once stored, so whatever a
   * client has seen can be replayed on any replica. Stores answer in order, so sends stay in order.
   */
  emit(type: string, dataJson: string, eventId: string): void {
    const seq = ++this.seq;
    const frame = dispatchFrame(type, seq, dataJson);
    const socket = this.socket;
    const sendIfStillAttached = () => {
      // After a re-attach the stored frame reaches the new socket through the replay instead.
      if (socket && this.socket === socket) socket.send(frame);
    };
    this.store.append(this.id, this.owner, { seq, eventId, type, dataJson, frame }).then(
      (owned) => (owned ? sendIfStillAttached() : this.onLost(this)),
      (err: unknown) => {
        // Live delivery goes on; only a later resume past this frame will be refused.
        this.logger.warn(`session ${this.id}: storing frame ${seq} failed: ${String(err)}`);
        sendIfStillAttached();
      },
    );
  }
}
