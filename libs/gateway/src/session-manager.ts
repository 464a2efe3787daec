import { randomBytes } from 'node:crypto';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { AppConfig, BUS, type BusPort, describeError, subscribeUntilDone } from '@cariosan/core';
import { type AuthenticatedUser, TOKEN_REVOKED_TOPIC, toUserView, UsersService } from '@cariosan/users';
import { Fanout } from './fanout.service';
import type { GatewayConnection } from './gateway-connection';
import { MembershipService } from './membership.service';
import { CloseCode, dispatchFrame, type ReadyData, type ResumedData } from './protocol';
import {
  type Checkpoint,
  framesAfter,
  type FrameItem,
  RESUME_STORE,
  type ResumeStorePort,
} from './resume-store/resume-store.port';
import { Session } from './session';

/** Bus topic on which a replica asks the owner of a session to let it go (a client resumes elsewhere). */
export const SESSION_RELEASE_TOPIC = 'gateway.session-release';
/** Bus topic on which the owner says it let a session go (its last flush is stored). */
export const SESSION_RELEASED_TOPIC = 'gateway.session-released';
/**
 * Sessions' resume state goes to the store this often (one call for all of this replica's sessions):
 * about 1.5 Redis commands per session per second. A clean hand-over flushes at once; only a crash
 * loses up to this much of the record (its events come again after the resume, none is lost).
 */
const FLUSH_MS = 2000;
/** Live sessions' tokens are checked this often (one query per replica). */
const TOKEN_CHECK_MS = 1000;
/** How long a resume waits for the old owner to let the session go (it may have died). */
const RELEASE_WAIT_MS = 500;
/** A crashed owner's last flush may be this old, relative to a join it did not record. */
const JOIN_LOOKBACK_MS = 5000;

/**
 * Sessions of this replica: IDENTIFY and RESUME, the batched flush of their resume state, the
 * hand-over of a session between replicas, token re-checks and expiry. See docs/gateway.md.
 */
@Injectable()
export class SessionManager implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Gateway');
  private flushTimer: NodeJS.Timeout | undefined;
  private tokenTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<unknown> = Promise.resolve();
  private checkingTokens = false;
  private stopped = false;
  private readonly releaseWaiters = new Map<string, () => void>();
  /** Sessions whose whole write failed (retried by the flusher) or is under way. */
  private readonly unsaved = new Set<Session>();
  private readonly saving = new Set<Session>();
  private readonly onRevoked = (message: string) => this.revokeMessage(message);
  private readonly onRelease = (message: string) => this.releaseRequested(message);
  private readonly onReleased = (message: string) => this.releasedMessage(message);

  constructor(
    private readonly config: AppConfig,
    private readonly users: UsersService,
    private readonly membership: MembershipService,
    private readonly fanout: Fanout,
    @Inject(RESUME_STORE) private readonly store: ResumeStorePort,
    @Inject(BUS) private readonly bus: BusPort,
  ) {}

  onApplicationBootstrap(): void {
    const stopped = () => this.stopped;
    subscribeUntilDone(this.bus, TOKEN_REVOKED_TOPIC, this.onRevoked, this.logger, stopped);
    subscribeUntilDone(this.bus, SESSION_RELEASE_TOPIC, this.onRelease, this.logger, stopped);
    subscribeUntilDone(this.bus, SESSION_RELEASED_TOPIC, this.onReleased, this.logger, stopped);
    this.flushTimer = setInterval(() => void this.flush(), FLUSH_MS);
    this.flushTimer.unref();
    this.tokenTimer = setInterval(() => void this.checkTokens(), TOKEN_CHECK_MS);
    this.tokenTimer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.flushTimer) clearInterval(this.flushTimer);
    if (this.tokenTimer) clearInterval(this.tokenTimer);
    await this.releaseAll();
    await this.bus.unsubscribe(TOKEN_REVOKED_TOPIC, this.onRevoked).catch(() => undefined);
    await this.bus.unsubscribe(SESSION_RELEASE_TOPIC, this.onRelease).catch(() => undefined);
    await this.bus.unsubscribe(SESSION_RELEASED_TOPIC, this.onReleased).catch(() => undefined);
  }

  // ---- identify and resume ----

  /**
   * Follows the user's topic first, then reads the memberships and each channel's seq in one
   * snapshot, so a join or leave is either in the snapshot or arrives after it.
   */
  async identify(conn: GatewayConnection, auth: AuthenticatedUser): Promise<void> {
    const session = this.newSession(randomBytes(16).toString('hex'), auth);
    await this.fanout.register(session);
    try {
      const [user, channels] = await Promise.all([
        this.users.get(auth.id),
        this.membership.snapshot(auth.id),
      ]);
      if (conn.state === 'closed') {
        // Gone before READY: nobody knows this session id.
        this.fanout.remove(session);
        return;
      }
      this.attach(conn, session);
      const ready: ReadyData = {
        sessionId: session.id,
        user: toUserView(user),
        channels: channels.map((c) => c.view),
      };
      session.sendOwn('READY', JSON.stringify(ready));
      void this.fanout.start(session, new Map(channels.map((c) => [c.view.id, c.lastSeq])));
      await this.save(session);
    } catch (err) {
      this.fanout.remove(session);
      throw err;
    }
  }

  /**
   * Takes the session over (from this replica or another, alive or dead), replays the frames after
   * `seq` as they were, then what each channel committed after the session's positions, then RESUMED.
   * 'invalid' when that is impossible.
   */
  async resume(
    conn: GatewayConnection,
    auth: AuthenticatedUser,
    sessionId: string,
    seq: number,
  ): Promise<'ok' | 'invalid'> {
    const local = this.fanout.get(sessionId);
    if (local && local.userId !== auth.id) return 'invalid';
    // Follow the user's topic before the old owner stops: no join falls between them.
    const session = this.newSession(sessionId, auth);
    const registered = this.fanout.register(session);
    if (local) {
      await registered;
      await this.release(local, 'session resumed on another connection');
    } else {
      const [peek] = await Promise.all([this.store.peek(sessionId), registered]);
      if (!peek || peek.userId !== auth.id) return this.drop(session);
      if (!peek.released) await this.askRelease(sessionId);
    }
    const state = await this.store.claim(sessionId, {
      userId: auth.id,
      tokenHash: auth.tokenHash,
      owner: session.owner,
    });
    if (!state) return this.drop(session);
    let replay: string[] = [];
    if (seq > state.s) {
      // The client saw frames the owner never stored (it died): new frames continue after them.
      if (state.released) return this.drop(session);
      session.s = seq;
    } else {
      const frames = await this.rebuild(sessionId, framesAfter(state.log, seq, state.s));
      if (!frames) return this.drop(session);
      replay = frames;
      session.s = state.s;
    }
    const positions = new Map(state.positions);
    if (!state.released) await this.addUnrecordedJoins(auth.id, positions, state.at - JOIN_LOOKBACK_MS);
    if (conn.state !== 'closed') this.attach(conn, session);
    for (const frame of replay) session.sendReplayed(frame);
    await this.fanout.start(session, positions);
    const resumed: ResumedData = { sessionId };
    session.sendOwn('RESUMED', JSON.stringify(resumed));
    return 'ok';
  }

  /** Memberships the dead owner had not flushed: start them at their join (or where the channel is). */
  private async addUnrecordedJoins(
    userId: string,
    positions: Map<string, number>,
    sinceMs: number,
  ): Promise<void> {
    const rows = (await this.membership.memberships([userId])).filter((r) => !positions.has(r.channelId));
    if (rows.length === 0) return;
    const joins = await this.membership.joinSeqs(
      rows.map((r) => [userId, r.channelId]),
      sinceMs,
    );
    for (const r of rows) {
      const seq = joins.get(`${userId}:${r.channelId}`);
      positions.set(r.channelId, seq !== undefined ? seq - 1 : r.lastSeq);
    }
  }

  /** The frames of these log items, rebuilt from the outbox; undefined when one is gone. */
  private async rebuild(
    sessionId: string,
    items: { s: number; item: FrameItem; index: number }[] | undefined,
  ): Promise<string[] | undefined> {
    if (!items) return undefined;
    const runs = new Map<FrameItem, [string, number, number]>();
    for (const { item, index } of items) {
      if (item[0] === 'T' || item[0] === 'P' || item[0] === 'R' || item[0] === 'Y') continue;
      const c = (item[0] === 'L' ? item[1] : item[0]) as string;
      const seq = item[0] === 'L' ? item[2] : (item[1] as number) + index;
      const run = runs.get(item);
      if (run) run[2] = seq - run[1] + 1;
      else runs.set(item, [c, seq, 1]);
    }
    const events = await this.membership.runs([...runs.values()]);
    const frames: string[] = [];
    for (const { s, item, index } of items) {
      if (item[0] === 'Y') return undefined;
      if (item[0] === 'R') {
        frames.push(dispatchFrame('RESUMED', s, JSON.stringify({ sessionId })));
      } else if (item[0] === 'P') {
        frames.push(
          dispatchFrame('PRESENCE_UPDATE', s, JSON.stringify({ userId: item[1], status: item[2] })),
        );
      } else if (item[0] === 'T') {
        frames.push(
          dispatchFrame('TYPING_START', s, JSON.stringify({ channelId: item[1], userId: item[2] })),
        );
      } else {
        const key = item[0] === 'L' ? `${item[1]}:${item[2]}` : `${item[0]}:${(item[1] as number) + index}`;
        const e = events.get(key);
        if (!e) return undefined;
        frames.push(dispatchFrame(e.t, s, e.data));
      }
    }
    return frames;
  }

  private newSession(id: string, auth: AuthenticatedUser): Session {
    return new Session(id, auth.id, auth.tokenHash, randomBytes(12).toString('hex'));
  }

  private drop(session: Session): 'invalid' {
    this.fanout.remove(session);
    return 'invalid';
  }

  private attach(conn: GatewayConnection, session: Session): void {
    session.attach(conn);
    conn.session = session;
    conn.state = 'ready';
  }

  /** Writes a new session whole; when the store is away, the flusher retries. */
  private async save(session: Session): Promise<void> {
    const { positions, entry } = session.takeAll();
    this.saving.add(session);
    try {
      await this.store.create({
        sessionId: session.id,
        userId: session.userId,
        tokenHash: session.tokenHash,
        owner: session.owner,
        s: session.s,
        positions,
        entry,
      });
    } catch (err) {
      this.logger.warn(`storing session ${session.id} failed, retrying: ${describeError(err).message}`);
      session.restore({
        sessionId: session.id,
        owner: session.owner,
        s: session.s,
        entry,
        positions,
        dropped: [],
        touch: true,
        released: false,
      });
      this.unsaved.add(session);
    } finally {
      this.saving.delete(session);
    }
  }

  // ---- hand-over between replicas ----

  private async askRelease(sessionId: string): Promise<void> {
    const released = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, RELEASE_WAIT_MS);
      this.releaseWaiters.set(sessionId, () => {
        clearTimeout(timer);
        resolve();
      });
    });
    try {
      await this.bus.publish(SESSION_RELEASE_TOPIC, JSON.stringify({ sessionId }));
      await released;
    } catch {
      // No bus: nobody can answer.
    } finally {
      this.releaseWaiters.delete(sessionId);
    }
  }

  /** Lets a session go: no more frames, its last state flushed and marked released. */
  async release(session: Session, reason: string): Promise<void> {
    const conn = session.socket as GatewayConnection | undefined;
    session.detach();
    if (conn) {
      conn.session = undefined;
      conn.close(CloseCode.UnknownError, reason);
    }
    this.fanout.remove(session);
    await this.flushSessions([session], true);
  }

  private releaseRequested(message: string): void {
    try {
      const { sessionId } = JSON.parse(message) as { sessionId: string };
      const session = this.fanout.get(sessionId);
      // Our own resume takes the session over itself.
      if (!session || this.releaseWaiters.has(sessionId)) return;
      void this.release(session, 'session resumed on another connection').then(() =>
        this.bus.publish(SESSION_RELEASED_TOPIC, JSON.stringify({ sessionId })).catch(() => undefined),
      );
    } catch {
      this.logger.warn('malformed session-release message');
    }
  }

  private releasedMessage(message: string): void {
    try {
      const { sessionId } = JSON.parse(message) as { sessionId: string };
      this.releaseWaiters.get(sessionId)?.();
    } catch {
      this.logger.warn('malformed session-released message');
    }
  }

  /** Drain: every session flushed and released, so clients resume on other replicas at once. */
  async releaseAll(): Promise<void> {
    const sessions = this.fanout.all();
    for (const s of sessions) {
      const conn = s.socket as GatewayConnection | undefined;
      s.detach();
      if (conn) conn.session = undefined;
      this.fanout.remove(s);
    }
    if (sessions.length === 0) return;
    await Promise.race([
      this.flushSessions(sessions, true),
      new Promise((r) => setTimeout(r, Math.min(3000, this.config.shutdownTimeoutMs / 2)).unref()),
    ]);
  }

  // ---- flushing ----

  private flush(): Promise<unknown> {
    const now = Date.now();
    const touchEvery = this.config.gatewayResumeWindowMs / 4;
    const due = this.fanout
      .all()
      .filter(
        (s) =>
          !s.earlyJoins &&
          !this.unsaved.has(s) &&
          !this.saving.has(s) &&
          (s.dirty || now - s.touchedAt > touchEvery),
      );
    for (const s of [...this.unsaved]) {
      this.unsaved.delete(s);
      if (!s.gone) void this.save(s);
    }
    return this.flushSessions(due, false);
  }

  /** One store call for these sessions, after any flush in progress. */
  private flushSessions(sessions: Session[], released: boolean): Promise<unknown> {
    const run = async () => {
      if (sessions.length === 0) return;
      const now = Date.now();
      const touchEvery = this.config.gatewayResumeWindowMs / 4;
      const batch: Checkpoint[] = sessions.map((s) =>
        s.checkpoint(released || now - s.touchedAt > touchEvery, released),
      );
      let results;
      try {
        results = await this.store.flush(batch);
      } catch (err) {
        this.logger.warn(`storing session state failed, retrying: ${describeError(err).message}`);
        sessions.forEach((s, i) => s.restore(batch[i]!));
        return;
      }
      results.forEach((r, i) => {
        const s = sessions[i]!;
        const cp = batch[i]!;
        if (r === 'ok') {
          if (cp.touch) s.touchedAt = now;
        } else if (r === 'lost') {
          this.lost(s);
        } else {
          // Redis lost it (restarted empty): write it whole again; frames before this are gone.
          s.restore(cp);
          if (!s.gone || released) void this.save(s);
        }
      });
    };
    this.flushing = this.flushing.then(run, run);
    return this.flushing;
  }

  /** The store says another replica owns the session now. */
  private lost(session: Session): void {
    if (session.gone) return;
    this.fanout.remove(session);
    const conn = session.socket as GatewayConnection | undefined;
    session.detach();
    if (conn) {
      conn.session = undefined;
      conn.close(CloseCode.UnknownError, 'session taken over');
    }
  }

  // ---- tokens and expiry ----

  /** Closes every session of a token that no longer exists: one query for all of this replica's. */
  private async checkTokens(): Promise<void> {
    if (this.checkingTokens || this.fanout.size === 0) return;
    this.checkingTokens = true;
    try {
      const sessions = this.fanout.all();
      const live = await this.membership.liveTokens([...new Set(sessions.map((s) => s.tokenHash))]);
      for (const s of sessions) if (!live.has(s.tokenHash)) this.revoke(s);
    } catch (err) {
      this.logger.debug(`checking tokens failed: ${describeError(err).message}`);
    } finally {
      this.checkingTokens = false;
    }
  }

  private revokeMessage(message: string): void {
    try {
      const { userId, tokenHash } = JSON.parse(message) as { userId: string; tokenHash: string };
      for (const s of this.fanout.all()) if (s.userId === userId && s.tokenHash === tokenHash) this.revoke(s);
    } catch {
      this.logger.warn('malformed token-revoked message');
    }
  }

  private revoke(session: Session): void {
    this.end(session, CloseCode.AuthenticationFailed, 'token revoked');
  }

  /** Ends a session for good (it cannot be resumed) and closes its socket with this code. */
  end(session: Session, code: number, reason: string): void {
    if (session.gone) return;
    this.fanout.remove(session);
    this.store.destroy(session.id).catch(() => undefined);
    const conn = session.socket as GatewayConnection | undefined;
    session.detach();
    conn?.close(code, reason);
  }

  /** Detached sessions past the resume window are forgotten (and deleted, so a late resume cannot look complete). */
  expire(now: number): void {
    for (const s of this.fanout.all()) {
      if (s.detachedAt !== undefined && now - s.detachedAt > this.config.gatewayResumeWindowMs) {
        this.fanout.remove(s);
        this.store.destroy(s.id).catch(() => undefined);
      }
    }
  }
}
