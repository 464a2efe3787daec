import type { GatewayEvent } from './gateway-event';
import { dispatchFrame } from './protocol';
import type { Checkpoint, FrameItem, LogEntry } from './resume-store/resume-store.port';

/** The socket side of a session: what the gateway connection offers it. */
export interface SessionSocket {
  send(frame: string): void;
}

/** A channel a session follows. */
export interface ChannelState {
  /** The last seq of the channel this session got (or skipped, as before its membership). */
  pos: number;
  /** Where its membership began (typing from before it is not for this session). */
  since: number;
  /** While it catches up (from the replica's recent events or the outbox), live events wait here. */
  held: GatewayEvent[] | null;
}

/**
 * One gateway session: its frame numbering, per channel the last seq it got, and, while
 * connected, its socket. A frame goes to the socket first; what was sent is recorded (as
 * channel/seq runs, never payloads) and flushed to the resume store in batches.
 */
export class Session {
  /** The last frame number. */
  s = 0;
  socket: SessionSocket | undefined;
  detachedAt: number | undefined = Date.now();
  readonly channels = new Map<string, ChannelState>();
  /** Channels it left, with the seq of the leave: an older join copy must not bring them back. */
  readonly leftAt = new Map<string, number>();
  /** Until its starting positions are known (identify/resume in progress): joins seen meanwhile. */
  earlyJoins: Map<string, number> | undefined = new Map();
  /** Set once removed from the replica: nothing more is numbered or flushed. */
  gone = false;
  /** Wall-clock ms of the last flush that refreshed the store's expiry. */
  touchedAt = Date.now();

  private items: FrameItem[] = [];
  private itemsFrom = 0;
  private readonly changed = new Map<string, number>();
  private readonly dropped = new Set<string>();

  constructor(
    readonly id: string,
    readonly userId: string,
    public tokenHash: string,
    /** Random per session object: the store refuses flushes from a replaced owner. */
    readonly owner: string,
  ) {}

  attach(socket: SessionSocket): void {
    this.socket = socket;
    this.detachedAt = undefined;
  }

  detach(): void {
    this.socket = undefined;
    this.detachedAt = Date.now();
  }

  /** Sends one event of a channel (the caller keeps the channel's position). */
  sendEvent(e: GatewayEvent, ownLeave: boolean): void {
    const s = this.next();
    this.socket?.send(dispatchFrame(e.t, s, e.data));
    this.changed.set(e.channelId, e.seq);
    if (ownLeave) {
      this.items.push(['L', e.channelId, e.seq]);
      return;
    }
    const last = this.items.at(-1);
    if (
      last &&
      last.length === 3 &&
      last[0] === e.channelId &&
      (last[1] as number) + (last[2] as number) === e.seq
    )
      (last as [string, number, number])[2]++;
    else this.items.push([e.channelId, e.seq, 1]);
  }

  sendTyping(e: GatewayEvent, userId: string): void {
    const s = this.next();
    this.socket?.send(dispatchFrame(e.t, s, e.data));
    this.items.push(['T', e.channelId, userId]);
  }

  /** A presence change of someone sharing a channel with the user (connected sockets only). */
  sendPresence(userId: string, status: string, dataJson: string): void {
    const s = this.next();
    this.socket?.send(dispatchFrame('PRESENCE_UPDATE', s, dataJson));
    this.items.push(['P', userId, status]);
  }

  /** READY or RESUMED: frames of no event. */
  sendOwn(t: 'READY' | 'RESUMED', dataJson: string): void {
    const s = this.next();
    this.socket?.send(dispatchFrame(t, s, dataJson));
    this.items.push(t === 'READY' ? ['Y'] : ['R']);
  }

  /** Frames rebuilt for a replay: sent with their original numbers, not recorded again. */
  sendReplayed(frame: string): void {
    this.socket?.send(frame);
  }

  follow(channelId: string, pos: number): void {
    this.changed.set(channelId, pos);
    this.dropped.delete(channelId);
  }

  unfollow(channelId: string): void {
    this.changed.delete(channelId);
    this.dropped.add(channelId);
  }

  /** Every channel position, for a store that lost the session (it is written whole again). */
  positions(): Map<string, number> {
    return new Map([...this.channels].map(([c, st]) => [c, st.pos]));
  }

  get dirty(): boolean {
    return this.items.length > 0 || this.changed.size > 0 || this.dropped.size > 0;
  }

  /** What changed since the last flush; the session starts recording afresh. */
  checkpoint(touch: boolean, released: boolean): Checkpoint {
    const entry: LogEntry | undefined =
      this.items.length > 0 ? { from: this.itemsFrom, items: this.items } : undefined;
    const cp: Checkpoint = {
      sessionId: this.id,
      owner: this.owner,
      s: this.s,
      entry,
      positions: new Map(this.changed),
      dropped: [...this.dropped],
      touch,
      released,
    };
    this.items = [];
    this.changed.clear();
    this.dropped.clear();
    return cp;
  }

  /** A flush failed: its changes go back in front of what was recorded since. */
  restore(cp: Checkpoint): void {
    if (cp.entry) {
      this.items = [...cp.entry.items, ...this.items];
      this.itemsFrom = cp.entry.from;
    }
    for (const [c, p] of cp.positions)
      if (!this.changed.has(c) && !this.dropped.has(c)) this.changed.set(c, p);
    for (const c of cp.dropped) if (!this.changed.has(c)) this.dropped.add(c);
  }

  /** The store lost everything: the next write is a whole one, its log starting with what is pending. */
  takeAll(): { positions: Map<string, number>; entry: LogEntry | undefined } {
    const entry: LogEntry | undefined =
      this.items.length > 0 ? { from: this.itemsFrom, items: this.items } : undefined;
    this.items = [];
    this.changed.clear();
    this.dropped.clear();
    return { positions: this.positions(), entry };
  }

  private next(): number {
    if (this.items.length === 0) this.itemsFrom = this.s + 1;
    return ++this.s;
  }
}
