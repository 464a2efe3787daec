export type PresenceStatus = 'online' | 'idle' | 'dnd' | 'offline';

/** Who is online across every replica. Redis in a cluster, in-process when embedded. */
export interface PresencePort {
  /** Marks a gateway session alive until `ttlMs` from now; called again on every heartbeat. */
  touchSession(userId: string, sessionId: string, ttlMs: number): Promise<void>;
  endSession(userId: string, sessionId: string): Promise<void>;
  setStatus(userId: string, status: Exclude<PresenceStatus, 'offline'>): Promise<void>;
  statuses(userIds: string[]): Promise<Record<string, PresenceStatus>>;
}

export const PRESENCE = Symbol('PRESENCE');
