import { randomBytes } from 'node:crypto';
import { Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { PresenceService } from '@cariosan/presence';
import type { GatewayConnection } from './gateway-connection';
import { CloseCode } from './protocol';
import { SessionManager } from './session-manager';

/**
 * Each live connection's entry in the presence store, and the session cap: when a user goes over
 * CARIOS_GATEWAY_MAX_SESSIONS_PER_USER, the store names their oldest entry and its session ends
 * for good (4008 "too many sessions"), on whichever replica holds it.
 */
@Injectable()
export class SessionPresence implements OnApplicationBootstrap {
  /** Live connections by the id their session holds in the presence store. */
  private readonly byPresenceId = new Map<string, GatewayConnection>();

  constructor(
    private readonly presence: PresenceService,
    private readonly sessions: SessionManager,
  ) {}

  onApplicationBootstrap(): void {
    this.presence.onEvicted((id) => this.evict(id));
  }

  /**
   * The connection carries a live session now. Each connection holds its own entry: a resume
   * elsewhere adds the new one before the old one's grace runs out, so the user never flaps offline.
   */
  async online(conn: GatewayConnection, userId: string): Promise<void> {
    const held = { userId, sessionId: randomBytes(12).toString('hex'), startedAt: Date.now() };
    conn.presence = held;
    this.byPresenceId.set(held.sessionId, conn);
    await this.presence.connect(held);
  }

  /** The connection closed: its entry goes (the user turns offline once no entry is left). */
  offline(conn: GatewayConnection): void {
    const held = conn.presence;
    if (!held) return;
    conn.presence = undefined;
    this.byPresenceId.delete(held.sessionId);
    void this.presence.disconnect(held.userId, held.sessionId);
  }

  private evict(presenceId: string): void {
    const conn = this.byPresenceId.get(presenceId);
    if (!conn) return;
    const session = conn.session;
    if (session) this.sessions.end(session, CloseCode.RateLimited, 'too many sessions');
    else conn.close(CloseCode.RateLimited, 'too many sessions');
  }
}
