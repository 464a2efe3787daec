import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { BUS, type BusPort, subscribeUntilDone } from '@cariosan/core';
import { PRESENCE_TOPIC, type PresenceAnnouncement } from '@cariosan/presence';
import { Fanout } from './fanout.service';
import type { Session } from './session';

/** How long a user's last delivered version is remembered (announcements arrive within moments). */
const VERSION_MEMORY_MS = 5 * 60_000;

/**
 * PRESENCE_UPDATE to this replica's sessions: each announcement goes to the sessions following
 * any of its user's channels at that moment (members, as the channel streams know them), not the
 * user's own, once per session, connected sockets only (presence is not kept for resume).
 * Announcements of one user may cross on the bus: an older version than the last one is dropped.
 */
@Injectable()
export class PresenceDispatch implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Presence');
  /** User -> [last version delivered, when]. */
  private readonly versions = new Map<string, [number, number]>();
  private readonly listener = (message: string) => this.onAnnouncement(message);
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    @Inject(BUS) private readonly bus: BusPort,
    private readonly fanout: Fanout,
  ) {}

  onApplicationBootstrap(): void {
    subscribeUntilDone(this.bus, PRESENCE_TOPIC, this.listener, this.logger, () => this.stopped);
    this.timer = setInterval(() => this.forgetOld(), VERSION_MEMORY_MS);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.bus.unsubscribe(PRESENCE_TOPIC, this.listener).catch(() => undefined);
  }

  /** Bus callback: must never throw. */
  private onAnnouncement(message: string): void {
    try {
      const a = JSON.parse(message) as PresenceAnnouncement;
      if (typeof a.userId !== 'string' || typeof a.status !== 'string' || !Array.isArray(a.channelIds))
        return;
      const last = this.versions.get(a.userId);
      if (last && last[0] >= a.version) return;
      this.versions.set(a.userId, [a.version, Date.now()]);
      const to = new Set<Session>();
      for (const c of a.channelIds) for (const s of this.fanout.sessionsIn(c)) to.add(s);
      const data = JSON.stringify({ userId: a.userId, status: a.status });
      // Not to the user's own sessions: a client knows its own status.
      for (const s of to)
        if (s.socket && !s.gone && s.userId !== a.userId) s.sendPresence(a.userId, a.status, data);
    } catch (err) {
      this.logger.warn(`dropping a malformed presence announcement: ${String(err)}`);
    }
  }

  private forgetOld(): void {
    const before = Date.now() - VERSION_MEMORY_MS;
    for (const [userId, [, at]] of this.versions) if (at < before) this.versions.delete(userId);
  }
}
