import {
  contiguousAfter,
  SESSION_FRAME_CAP,
  type ClaimedSession,
  type Replay,
  type SessionStorePort,
  type StoredFrame,
} from './session-store.port';

interface Entry {
  userId: string;
  tokenHash: string;
  owner: string;
  lastSeq: number;
  lastAt: number;
  createdAt: number;
  frames: StoredFrame[];
  expiresAt: number;
}

/** The embedded session store: one process, so a Map with expiry is enough. */
export class InProcessSessionStore implements SessionStorePort {
  private readonly sessions = new Map<string, Entry>();
  private writes = 0;

  constructor(private readonly ttlMs: number) {}

  async create(sessionId: string, userId: string, tokenHash: string, owner: string): Promise<void> {
    this.sweepSometimes();
    this.sessions.set(sessionId, {
      userId,
      tokenHash,
      owner,
      lastSeq: 0,
      lastAt: Date.now(),
      createdAt: Date.now(),
      frames: [],
      expiresAt: Date.now() + this.ttlMs,
    });
  }

  async append(sessionId: string, owner: string, frame: StoredFrame): Promise<boolean> {
    const e = this.live(sessionId);
    if (!e || e.owner !== owner) return false;
    e.frames.push(frame);
    if (e.frames.length > SESSION_FRAME_CAP) e.frames.splice(0, e.frames.length - SESSION_FRAME_CAP);
    e.lastSeq = frame.seq;
    e.lastAt = Date.now();
    e.expiresAt = Date.now() + this.ttlMs;
    return true;
  }

  async touch(sessionId: string): Promise<void> {
    const e = this.live(sessionId);
    if (e) e.expiresAt = Date.now() + this.ttlMs;
  }

  async claim(
    sessionId: string,
    userId: string,
    tokenHash: string,
    owner: string,
  ): Promise<ClaimedSession | undefined> {
    const e = this.live(sessionId);
    if (!e || e.userId !== userId) return undefined;
    e.owner = owner;
    e.tokenHash = tokenHash;
    e.expiresAt = Date.now() + this.ttlMs;
    return { lastSeq: e.lastSeq, lastAt: e.lastAt, createdAt: e.createdAt };
  }

  async framesAfter(sessionId: string, seq: number): Promise<Replay | undefined> {
    const e = this.live(sessionId);
    return e ? contiguousAfter(e.frames, seq, e.lastSeq) : undefined;
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

  private sweepSometimes(): void {
    if (++this.writes % 256 !== 0) return;
    const now = Date.now();
    for (const [id, e] of this.sessions) if (e.expiresAt <= now) this.sessions.delete(id);
  }
}
