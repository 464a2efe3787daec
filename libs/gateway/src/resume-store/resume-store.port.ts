/**
 * What a session sent, one item per run of frames, so that a resume on any replica can rebuild
 * exactly the frames a client missed (payloads come from the outbox by channel and seq):
 * - `[channelId, seq, n]`: n events of a channel, seq, seq+1, ... (consecutive frames);
 * - `['L', channelId, seq]`: the user's own leave, the last event of that channel it got;
 * - `['T', channelId, userId]`: a typing frame (not stored anywhere else);
 * - `['P', userId, status]`: a PRESENCE_UPDATE frame (not stored anywhere else);
 * - `['R']`: a RESUMED frame; `['Y']`: READY (s = 1, never replayed).
 */
export type FrameItem =
  | [channelId: string, seq: number, count: number]
  | ['L', channelId: string, seq: number]
  | ['T', channelId: string, userId: string]
  | ['P', userId: string, status: string]
  | ['R']
  | ['Y'];

/** Frames `from`, `from + 1`, ... as items (one flush of a session). */
export interface LogEntry {
  from: number;
  items: FrameItem[];
}

/** One session's share of a flush: what it sent since the last one. */
export interface Checkpoint {
  sessionId: string;
  owner: string;
  /** The last frame number sent. */
  s: number;
  entry: LogEntry | undefined;
  /** Channel positions (last seq sent) that changed, and channels the session no longer follows. */
  positions: Map<string, number>;
  dropped: string[];
  /** Refresh the keys' expiry (and trim the log): a few times per TTL, not on every flush. */
  touch: boolean;
  /** The owner lets the session go (drain, resume elsewhere): a claim need not wait for it. */
  released: boolean;
}

export interface NewSession {
  sessionId: string;
  userId: string;
  tokenHash: string;
  owner: string;
  s: number;
  positions: Map<string, number>;
  entry: LogEntry | undefined;
}

/** Who takes a session over: its user (checked), the token they resumed with, the new owner. */
export interface Claimant {
  userId: string;
  tokenHash: string;
  owner: string;
}

/** ok; lost: another owner claimed it; missing: the store lost it (Redis emptied), rewrite it whole. */
export type FlushResult = 'ok' | 'lost' | 'missing';

export interface StoredSession {
  userId: string;
  tokenHash: string;
  createdAt: number;
  /** Wall-clock ms of the last flush. */
  at: number;
  /** Whether the previous owner released it (its last flush is complete). */
  released: boolean;
  s: number;
  /** Per channel followed: the last seq sent, as of frame `s`. */
  positions: Map<string, number>;
  log: LogEntry[];
}

/**
 * Where sessions live between connections, so any replica can resume them: per session its user,
 * token hash, owner, the last frame number and per-channel positions, and a log of what each
 * frame was (never the payloads). Written in batches (one call per flush for many sessions), at
 * most once every 2 s per session. `owner` is random per live session object: a flush by a
 * replaced owner is refused, so two replicas never number the same session.
 */
export interface ResumeStorePort {
  /** A new (or rewritten) session: positions as of frame `s`, and the log starting with `entry`. */
  create(session: NewSession): Promise<void>;
  flush(batch: Checkpoint[]): Promise<FlushResult[]>;
  peek(sessionId: string): Promise<{ userId: string; released: boolean } | undefined>;
  /** Makes `owner` the owner when the session exists and belongs to `userId`; its state as stored. */
  claim(sessionId: string, by: Claimant): Promise<StoredSession | undefined>;
  destroy(sessionId: string): Promise<void>;
}

export const RESUME_STORE = Symbol('RESUME_STORE');

/** Log entries kept per session (a flush adds at most one per second or so: beyond the window). */
export const LOG_CAP = 600;

/** The items after frame `seq` up to the end of the log, each with its frame number; undefined when not all there. */
export function framesAfter(
  log: LogEntry[],
  seq: number,
  lastS: number,
): { s: number; item: FrameItem; index: number }[] | undefined {
  const out: { s: number; item: FrameItem; index: number }[] = [];
  if (seq >= lastS) return out;
  let next: number | undefined;
  for (const entry of log) {
    if (next !== undefined && entry.from !== next) {
      // A hole (entries lost): only what follows it is contiguous.
      out.length = 0;
    }
    let s = entry.from;
    for (const item of entry.items) {
      const n = item.length === 3 && typeof item[2] === 'number' && item[0] !== 'L' ? item[2] : 1;
      for (let k = 0; k < n; k++, s++) if (s > seq) out.push({ s, item, index: k });
    }
    next = s;
  }
  if (next !== lastS + 1) return undefined;
  if (out.length !== lastS - seq || out[0]?.s !== seq + 1) return undefined;
  return out;
}
