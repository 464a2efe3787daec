import type {
  ChosenStatus,
  PresenceChange,
  PresencePort,
  PresenceSession,
  PresenceStatus,
  PresenceUpdate,
} from '@cariosan/core';

interface UserPresence {
  /** Session id -> expiry and start (ms). */
  sessions: Map<string, { expires: number; startedAt: number }>;
  announced: PresenceStatus;
}

/** The presence store of an embedded server (one replica): the Redis store's rules, in memory. */
export class InProcessPresenceStore implements PresencePort {
  private readonly users = new Map<string, UserPresence>();
  private readonly chosen = new Map<string, ChosenStatus>();
  /** Evicted session -> until when its refresh must not bring it back. */
  private readonly evictedUntil = new Map<string, number>();
  private version = 0;

  constructor(private readonly clock: () => number = Date.now) {}

  connect(s: PresenceSession, ttlMs: number, maxSessions: number): Promise<PresenceUpdate> {
    const now = this.clock();
    this.evictedUntil.delete(s.sessionId);
    const u = this.user(s.userId);
    const startedAt = u.sessions.get(s.sessionId)?.startedAt ?? s.startedAt;
    u.sessions.set(s.sessionId, { expires: now + ttlMs, startedAt });
    this.prune(u, now);
    const evicted: string[] = [];
    if (u.sessions.size > maxSessions) {
      const order = [...u.sessions].sort(
        ([a, x], [b, y]) => x.startedAt - y.startedAt || (a < b ? -1 : a > b ? 1 : 0),
      );
      for (const [id] of order.slice(0, u.sessions.size - maxSessions)) {
        u.sessions.delete(id);
        this.evictedUntil.set(id, now + 2 * ttlMs);
        evicted.push(id);
      }
    }
    return Promise.resolve({ changes: this.settle(s.userId, now), evicted });
  }

  refresh(sessions: PresenceSession[], ttlMs: number): Promise<PresenceUpdate> {
    const now = this.clock();
    for (const [id, until] of this.evictedUntil) if (until <= now) this.evictedUntil.delete(id);
    const out: PresenceUpdate = { changes: [], evicted: [] };
    const touched = new Set<string>();
    for (const s of sessions) {
      if (this.evictedUntil.has(s.sessionId)) {
        out.evicted.push(s.sessionId);
        continue;
      }
      const u = this.user(s.userId);
      const startedAt = u.sessions.get(s.sessionId)?.startedAt ?? s.startedAt;
      u.sessions.set(s.sessionId, { expires: now + ttlMs, startedAt });
      touched.add(s.userId);
    }
    for (const userId of touched) out.changes.push(...this.settle(userId, now));
    return Promise.resolve(out);
  }

  disconnect(userId: string, sessionId: string, graceMs: number): Promise<PresenceChange | undefined> {
    const now = this.clock();
    const sessions = this.users.get(userId)?.sessions;
    const s = sessions?.get(sessionId);
    if (s && graceMs > 0) {
      s.expires = Math.min(s.expires, now + graceMs);
      // Ended: first to go when the user is over the cap (before any live session).
      s.startedAt = 0;
    } else sessions?.delete(sessionId);
    return Promise.resolve(this.settle(userId, now)[0]);
  }

  /** Memory is never lost while the process lives: the same as an end without grace. */
  endLost(userId: string, sessionId: string): Promise<PresenceChange | undefined> {
    return this.disconnect(userId, sessionId, 0);
  }

  setStatus(userId: string, status: ChosenStatus): Promise<PresenceChange | undefined> {
    if (status === 'online') this.chosen.delete(userId);
    else this.chosen.set(userId, status);
    return Promise.resolve(this.settle(userId, this.clock())[0]);
  }

  sweep(limit: number): Promise<PresenceChange[]> {
    const now = this.clock();
    const out: PresenceChange[] = [];
    for (const [userId, u] of this.users) {
      if (out.length >= limit) break;
      if ([...u.sessions.values()].some((s) => s.expires <= now)) out.push(...this.settle(userId, now));
    }
    return Promise.resolve(out);
  }

  statuses(userIds: string[]): Promise<Map<string, PresenceStatus>> {
    return Promise.resolve(new Map(userIds.map((id) => [id, this.users.get(id)?.announced ?? 'offline'])));
  }

  private user(userId: string): UserPresence {
    let u = this.users.get(userId);
    if (!u) this.users.set(userId, (u = { sessions: new Map(), announced: 'offline' }));
    return u;
  }

  private prune(u: UserPresence, now: number): void {
    for (const [id, s] of u.sessions) if (s.expires <= now) u.sessions.delete(id);
  }

  private settle(userId: string, now: number): PresenceChange[] {
    const u = this.users.get(userId);
    if (!u) return [];
    this.prune(u, now);
    const want: PresenceStatus = u.sessions.size > 0 ? (this.chosen.get(userId) ?? 'online') : 'offline';
    if (want === 'offline') this.users.delete(userId);
    if (want === u.announced) return [];
    u.announced = want;
    return [{ userId, status: want, version: ++this.version }];
  }
}
