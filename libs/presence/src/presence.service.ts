import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import {
  AppConfig,
  bigintArray,
  BUS,
  type BusPort,
  type ChosenStatus,
  Db,
  describeError,
  PRESENCE,
  type PresenceChange,
  type PresencePort,
  type PresenceSession,
  type PresenceStatus,
  type PresenceUpdate,
  ShutdownState,
  subscribeUntilDone,
} from '@cariosan/core';

/** Bus topic of every presence change: `PresenceAnnouncement` as JSON. */
export const PRESENCE_TOPIC = 'presence.updated';
/** Bus topic on which the replica that admitted a session names the sessions it pushed over the cap. */
export const SESSION_EVICT_TOPIC = 'presence.sessions-evicted';

/** A change, with the channels of its user: every member of them hears of it. */
export interface PresenceAnnouncement {
  userId: string;
  status: PresenceStatus;
  version: number;
  channelIds: string[];
}

/** A closed session still counts this long: a client that reconnects at once does not flap offline. */
export const RECONNECT_GRACE_MS = 5000;
/** Users a sweep turns offline per script call (each call holds Redis briefly). */
const SWEEP_BATCH = 200;

/**
 * Presence of this replica's live gateway sessions: holds them in the presence store with a TTL,
 * refreshes them every third of it, sweeps every sixth of it for users whose sessions expired (a
 * killed replica's), and announces each change the store hands it, once, on the bus. A draining
 * replica stops refreshing, sweeping and announcing: its clients resume elsewhere, and what they
 * leave behind expires. Sessions over a user's cap are evicted through the bus.
 */
@Injectable()
export class PresenceService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Presence');
  private readonly held = new Map<string, PresenceSession>();
  /**
   * Sessions that ended while the store failed, by id: told again once it answers, one refresh
   * period later (by then every replica has written its live sessions back into a store that
   * restarted empty). `due` is unset until the store answers again.
   */
  private readonly lostEnds = new Map<string, { userId: string; due: number | undefined }>();
  private readonly evictListeners: ((sessionId: string) => void)[] = [];
  private readonly onEvictMessage = (message: string) => this.evictMessage(message);
  private refreshTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(
    private readonly config: AppConfig,
    private readonly db: Db,
    private readonly shutdown: ShutdownState,
    @Inject(PRESENCE) private readonly store: PresencePort,
    @Inject(BUS) private readonly bus: BusPort,
  ) {}

  onApplicationBootstrap(): void {
    subscribeUntilDone(this.bus, SESSION_EVICT_TOPIC, this.onEvictMessage, this.logger);
    const ttl = this.config.presenceTtlMs;
    this.refreshTimer = setInterval(() => void this.refresh(), Math.floor(ttl / 3));
    this.refreshTimer.unref();
    this.sweepTimer = setInterval(() => void this.sweep(), Math.floor(ttl / 6));
    this.sweepTimer.unref();
    this.shutdown.onDrain(() => this.stop());
  }

  async onApplicationShutdown(): Promise<void> {
    this.stop();
    await this.bus.unsubscribe(SESSION_EVICT_TOPIC, this.onEvictMessage).catch(() => undefined);
  }

  private stop(): void {
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
  }

  /** Called with each session of this replica that was pushed over its user's cap. */
  onEvicted(listener: (sessionId: string) => void): void {
    this.evictListeners.push(listener);
  }

  /** A gateway session went live on this replica (identified or resumed). */
  async connect(session: PresenceSession): Promise<void> {
    if (this.shutdown.isDraining) return;
    this.held.set(session.sessionId, session);
    try {
      await this.apply(
        await this.store.connect(session, this.config.presenceTtlMs, this.config.gatewayMaxSessionsPerUser),
      );
    } catch (err) {
      // Held: the next refresh adds it.
      this.logger.warn(`presence connect failed (the refresh retries): ${describeError(err).message}`);
    }
  }

  /** A session of this replica ended. While draining nothing is said: the client resumes elsewhere or expires. */
  async disconnect(userId: string, sessionId: string): Promise<void> {
    if (!this.held.delete(sessionId) || this.shutdown.isDraining) return;
    try {
      const change = await this.store.disconnect(
        userId,
        sessionId,
        Math.min(RECONNECT_GRACE_MS, this.config.presenceTtlMs),
      );
      if (change) await this.announce([change]);
    } catch (err) {
      // Not refreshed any more: it expires and a sweep announces it, or, if the store comes back
      // without it, this replica says offline (lostEnds).
      this.lostEnds.set(sessionId, { userId, due: undefined });
      this.logger.warn(`presence disconnect failed (told again later): ${describeError(err).message}`);
    }
  }

  async setStatus(userId: string, status: ChosenStatus): Promise<void> {
    const change = await this.store.setStatus(userId, status);
    if (change) await this.announce([change]);
  }

  /** Statuses of the users among `userIds` who share a channel with the caller (and the caller's own). */
  async visibleStatuses(callerId: string, userIds: string[]): Promise<Record<string, PresenceStatus>> {
    const others = userIds.filter((id) => id !== callerId);
    const visible = others.length
      ? (
          await this.db.query<{ user_id: string }>(
            `SELECT DISTINCT theirs.user_id::text AS user_id
               FROM channel_members mine
               JOIN channel_members theirs ON theirs.channel_id = mine.channel_id
              WHERE mine.user_id = $1 AND theirs.user_id = ANY($2::bigint[])`,
            [callerId, bigintArray(others)],
          )
        ).map((r) => r.user_id)
      : [];
    if (userIds.includes(callerId)) visible.push(callerId);
    const statuses = await this.store.statuses(visible);
    const out: Record<string, PresenceStatus> = {};
    for (const id of userIds) {
      const status = statuses.get(id);
      if (status) out[id] = status;
    }
    return out;
  }

  private async refresh(): Promise<void> {
    if (this.busy || (this.held.size === 0 && this.lostEnds.size === 0) || this.shutdown.isDraining) return;
    this.busy = true;
    try {
      if (this.held.size > 0)
        await this.apply(await this.store.refresh([...this.held.values()], this.config.presenceTtlMs));
      await this.endLost();
    } catch (err) {
      // Still failing: the wait for the other replicas starts again once it answers.
      for (const e of this.lostEnds.values()) e.due = undefined;
      this.logger.warn(`presence refresh failed: ${describeError(err).message}`);
    } finally {
      this.busy = false;
    }
  }

  /** Sessions that ended during a store failure: gone now, and `offline` said if nobody else can. */
  private async endLost(): Promise<void> {
    const now = Date.now();
    for (const [sessionId, e] of this.lostEnds) {
      if (e.due === undefined) e.due = now + Math.floor(this.config.presenceTtlMs / 3) + 1000;
      if (now < e.due) continue;
      const change = await this.store.endLost(e.userId, sessionId);
      this.lostEnds.delete(sessionId);
      if (change) await this.announce([change]);
    }
  }

  private async sweep(): Promise<void> {
    if (this.shutdown.isDraining) return;
    try {
      for (;;) {
        const changes = await this.store.sweep(SWEEP_BATCH);
        await this.announce(changes);
        if (changes.length < SWEEP_BATCH) return;
      }
    } catch (err) {
      this.logger.warn(`presence sweep failed: ${describeError(err).message}`);
    }
  }

  private async apply(update: PresenceUpdate): Promise<void> {
    if (update.evicted.length > 0) {
      const local = update.evicted.filter((id) => this.held.has(id));
      for (const id of local) this.evicted(id);
      const remote = update.evicted.filter((id) => !local.includes(id));
      if (remote.length > 0)
        await this.bus
          .publish(SESSION_EVICT_TOPIC, JSON.stringify({ sessionIds: remote }))
          .catch((err: unknown) =>
            this.logger.warn(
              `publishing evictions failed (refreshes find them): ${describeError(err).message}`,
            ),
          );
    }
    await this.announce(update.changes);
  }

  private evicted(sessionId: string): void {
    if (!this.held.delete(sessionId)) return;
    for (const listener of this.evictListeners) listener(sessionId);
  }

  private evictMessage(message: string): void {
    try {
      const { sessionIds } = JSON.parse(message) as { sessionIds: string[] };
      for (const id of sessionIds) this.evicted(id);
    } catch {
      this.logger.warn('malformed eviction message');
    }
  }

  /** Each change goes out once, with its user's channels; a failure is retried a few times. */
  private async announce(changes: PresenceChange[]): Promise<void> {
    if (changes.length === 0 || this.shutdown.isDraining) return;
    for (let attempt = 0; ; attempt++) {
      try {
        const ids = [...new Set(changes.map((c) => c.userId))];
        const rows = await this.db.query<{ user_id: string; channel_ids: string[] }>(
          `SELECT user_id::text AS user_id, array_agg(channel_id::text) AS channel_ids
             FROM channel_members WHERE user_id = ANY($1::bigint[]) GROUP BY user_id`,
          [bigintArray(ids)],
        );
        const channels = new Map(rows.map((r) => [r.user_id, r.channel_ids]));
        const pending = changes.map((c) => {
          const message: PresenceAnnouncement = { ...c, channelIds: channels.get(c.userId) ?? [] };
          return this.bus.publish(PRESENCE_TOPIC, JSON.stringify(message));
        });
        await Promise.all(pending);
        return;
      } catch (err) {
        // A repeat is harmless: receivers drop a version they already delivered.
        if (attempt >= 3) {
          this.logger.warn(`announcing presence failed: ${describeError(err).message}`);
          return;
        }
        await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
      }
    }
  }
}
