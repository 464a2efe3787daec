export type PresenceStatus = 'online' | 'idle' | 'dnd' | 'offline';
/** What a user may choose; `offline` only follows from having no live session. */
export type ChosenStatus = Exclude<PresenceStatus, 'offline'>;

/**
 * A user's announced status changed. Exactly one caller of the store gets each change (the store
 * decides atomically); `version` grows with every change of any user, so a receiver drops one that
 * arrives after a newer one.
 */
export interface PresenceChange {
  userId: string;
  status: PresenceStatus;
  version: number;
}

/** A live gateway session as the presence store knows it. */
export interface PresenceSession {
  userId: string;
  sessionId: string;
  /** Wall-clock ms the session began: the oldest sessions go first when a user is over the cap. */
  startedAt: number;
}

export interface PresenceUpdate {
  changes: PresenceChange[];
  /** Sessions closed for being over their user's cap: whoever holds them closes them. */
  evicted: string[];
}

/**
 * Who is online across every replica: each replica holds its live sessions with a TTL and
 * refreshes them; a session not refreshed in time no longer counts, and whichever replica sweeps
 * first announces the user offline. Redis in a cluster, in-process when embedded.
 */
export interface PresencePort {
  /** Adds (or refreshes) a session; over `maxSessions`, the user's oldest are removed and returned. */
  connect(session: PresenceSession, ttlMs: number, maxSessions: number): Promise<PresenceUpdate>;
  /** Refreshes sessions (re-adding those the store lost); evicted ones are returned, not re-added. */
  refresh(sessions: PresenceSession[], ttlMs: number): Promise<PresenceUpdate>;
  /**
   * The session ended. With a grace it still counts that long (a client reconnecting at once does
   * not flap offline and back), after which a sweep announces what follows; without, it goes now.
   */
  disconnect(userId: string, sessionId: string, graceMs: number): Promise<PresenceChange | undefined>;
  /**
   * A session that ended while the store could not be told (an outage): it goes now. When nothing
   * of the user lives and the store no longer knows what was announced for them (it restarted
   * empty), the change to `offline` is returned all the same: nobody else can announce it.
   */
  endLost(userId: string, sessionId: string): Promise<PresenceChange | undefined>;
  setStatus(userId: string, status: ChosenStatus): Promise<PresenceChange | undefined>;
  /** Users whose every session expired turn offline (at most `limit` of them per call). */
  sweep(limit: number): Promise<PresenceChange[]>;
  /** The announced status of each user (`offline` when none). */
  statuses(userIds: string[]): Promise<Map<string, PresenceStatus>>;
}

export const PRESENCE = Symbol('PRESENCE');
