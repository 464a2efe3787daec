/** One dispatched frame of a session, kept so that the session can resume on any replica. */
export interface StoredFrame {
  seq: number;
  /** The domain event's id ('' for READY/RESUMED), used to drop duplicates after a takeover. */
  eventId: string;
  /** Dispatch type and payload, from which `frame` is built; a store may keep these instead. */
  type: string;
  dataJson: string;
  frame: string;
}

export interface ClaimedSession {
  lastSeq: number;
  /** Wall-clock ms of the last stored frame (by the owner's clock). */
  lastAt: number;
  /** Wall-clock ms when the session was created. */
  createdAt: number;
}

/**
 * Where gateway sessions live between connections: owner, last seq and the last frames.
 * Redis when configured (any replica can resume), in-process otherwise. `owner` is a random
 * token per live session object: a write by a replaced owner is refused, so two replicas
 * never number the same session.
 */
export interface SessionStorePort {
  create(sessionId: string, userId: string, tokenHash: string, owner: string): Promise<void>;
  /** Stores a frame; false when another owner took the session over (or it expired). */
  append(sessionId: string, owner: string, frame: StoredFrame): Promise<boolean>;
  /** Keeps an idle session from expiring. */
  touch(sessionId: string): Promise<void>;
  /** Makes `owner` the owner when the session exists and belongs to `userId`. */
  claim(
    sessionId: string,
    userId: string,
    tokenHash: string,
    owner: string,
  ): Promise<ClaimedSession | undefined>;
  /**
   * Every frame after `seq`, in order, plus the event ids of every stored frame (to drop
   * duplicates after a takeover); undefined when the frames after `seq` are no longer all there.
   */
  framesAfter(sessionId: string, seq: number): Promise<Replay | undefined>;
  destroy(sessionId: string): Promise<void>;
}

export interface Replay {
  frames: StoredFrame[];
  eventIds: string[];
}

export const SESSION_STORE = Symbol('SESSION_STORE');

/** Frames kept per session; a client further behind gets INVALID_SESSION. */
export const SESSION_FRAME_CAP = 1000;

/** The frames after `seq` when they are complete and contiguous up to `lastSeq`. */
export function contiguousAfter(stored: StoredFrame[], seq: number, lastSeq: number): Replay | undefined {
  if (seq > lastSeq) return undefined;
  const frames = stored.filter((f) => f.seq > seq);
  if (frames.length !== lastSeq - seq) return undefined;
  for (let i = 0; i < frames.length; i++) if (frames[i]!.seq !== seq + 1 + i) return undefined;
  return { frames, eventIds: stored.map((f) => f.eventId).filter(Boolean) };
}
