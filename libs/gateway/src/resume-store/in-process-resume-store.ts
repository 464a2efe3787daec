import type {
  Checkpoint,
  FlushResult,
  NewSession,
  Claimant,
  ResumeStorePort,
  StoredSession,
} from './resume-store.port';
import { LOG_CAP } from './resume-store.port';

interface Entry extends StoredSession {
  owner: string;
  expiresAt: number;
}

/** The embedded store: one process, so a Map with expiry is enough. */
export class InProcessResumeStore implements ResumeStorePort {
  private readonly sessions = new Map<string, Entry>();
  private writes = 0;

  constructor(private readonly ttlMs: number) {}

  async create({ sessionId, userId, tokenHash, owner, s, positions, entry }: NewSession): Promise<void> {
    if (++this.writes % 256 === 0) this.sweep();
    const now = Date.now();
    this.sessions.set(sessionId, {
      userId,
      tokenHash,
      owner,
      createdAt: now,
      at: now,
      released: false,
      s,
      positions: new Map(positions),
      log: entry ? [entry] : [],
      expiresAt: now + this.ttlMs,
    });
  }

  async flush(batch: Checkpoint[]): Promise<FlushResult[]> {
    return batch.map((c) => {
      const e = this.live(c.sessionId);
      if (!e) return 'missing';
      if (e.owner !== c.owner) return 'lost';
      e.s = c.s;
      e.at = Date.now();
      if (c.released) e.released = true;
      for (const [ch, p] of c.positions) e.positions.set(ch, p);
      for (const ch of c.dropped) e.positions.delete(ch);
      if (c.entry) e.log.push(c.entry);
      if (e.log.length > LOG_CAP) e.log.splice(0, e.log.length - LOG_CAP);
      if (c.touch) e.expiresAt = Date.now() + this.ttlMs;
      return 'ok';
    });
  }

  async peek(sessionId: string): Promise<{ userId: string; released: boolean } | undefined> {
    const e = this.live(sessionId);
    return e ? { userId: e.userId, released: e.released } : undefined;
  }

  async claim(sessionId: string, { userId, tokenHash, owner }: Claimant): Promise<StoredSession | undefined> {
    const e = this.live(sessionId);
    if (!e || e.userId !== userId) return undefined;
    const released = e.released;
    e.owner = owner;
    e.tokenHash = tokenHash;
    e.released = false;
    e.expiresAt = Date.now() + this.ttlMs;
    return { ...e, released, positions: new Map(e.positions), log: [...e.log] };
  }

  async destroy(sessionId: string): Promise<void> {
    this.sessions.delete(sessionId);
  }

  private live(sessionId: string): Entry | undefined {
    const e = this.sessions.get(sessionId);
    if (e && e.expiresAt <= Date.now()) {
      this.sessions.delete(sessionId);
      return undefined;
    }
    return e;
  }

  private sweep(): void {
    const now = Date.now();
    for (const [id, e] of this.sessions) if (e.expiresAt <= now) this.sessions.delete(id);
  }
}
