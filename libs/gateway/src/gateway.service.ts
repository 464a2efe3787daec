import { randomBytes } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
  Optional,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import {
  AppConfig,
  BUS,
  type BusPort,
  MetricsService,
  PRESENCE,
  type PresencePort,
  ShutdownState,
} from '@cariosan/core';
import { TOKEN_REVOKED_TOPIC, toUserView, UsersService } from '@cariosan/users';
import { Fanout } from './fanout.service';
import { GatewayConnection } from './gateway-connection';
import { MembershipService } from './membership.service';
import {
  CloseCode,
  HEARTBEAT_ACK_FRAME,
  helloFrame,
  INVALID_SESSION_FRAME,
  MAX_FRAME_BYTES,
  parseClientFrame,
  type ClientFrame,
  type ReadyData,
  type ResumedData,
} from './protocol';
import { Session } from './session';
import { SESSION_STORE, type SessionStorePort } from './session-store/session-store.port';

export const GATEWAY_PATH = '/gateway';
/** Bus topic on which a replica announces that it took a session over (the old owner lets go). */
export const SESSION_CLAIMED_TOPIC = 'gateway.session-claimed';
/** How far before a taken-over session's last stored frame the outbox is searched for missed events. */
const GAP_FILL_MARGIN_MS = 15_000;
/** How long a draining replica keeps collecting for its sessions while clients resume elsewhere. */
const DRAIN_HANDOFF_MS = 5000;
const MAX_TOKEN_LENGTH = 512;

/**
 * The WebSocket gateway at /gateway on the HTTP server, outside Nest's per-message
 * machinery: raw `ws` with maxPayload, one sweep timer for every deadline, and a Fanout
 * that serialises each event once per replica. See docs/gateway.md.
 */
@Injectable()
export class GatewayService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Gateway');
  private readonly connections = new Set<GatewayConnection>();
  private wss: WebSocketServer | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private draining = false;
  private readonly connectionsGauge;
  private readonly slowConsumers;
  private readonly onRevoked = (message: string) => this.revoke(message);
  private readonly onClaimed = (message: string) => this.releaseClaimed(message);

  constructor(
    private readonly config: AppConfig,
    private readonly adapterHost: HttpAdapterHost,
    private readonly shutdown: ShutdownState,
    private readonly users: UsersService,
    private readonly membership: MembershipService,
    private readonly fanout: Fanout,
    @Inject(SESSION_STORE) private readonly store: SessionStorePort,
    @Inject(BUS) private readonly bus: BusPort,
    metrics: MetricsService,
    @Optional() @Inject(PRESENCE) private readonly presence?: PresencePort,
  ) {
    this.connectionsGauge = metrics.gauge(
      'cariosan_gateway_connections',
      'Open gateway WebSocket connections',
    );
    this.slowConsumers = metrics.counter(
      'cariosan_gateway_slow_consumer_closes_total',
      'Gateway sockets cut for not keeping up',
    );
  }

  onApplicationBootstrap(): void {
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: MAX_FRAME_BYTES,
      perMessageDeflate: false,
      clientTracking: false,
    });
    const server = this.adapterHost.httpAdapter.getHttpServer() as Server;
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.upgrade(req, socket, head),
    );
    const period = Math.max(
      50,
      Math.min(
        1000,
        Math.floor(Math.min(this.config.gatewayHeartbeatMs, this.config.gatewayIdentifyTimeoutMs) / 4),
      ),
    );
    this.sweeper = setInterval(() => this.sweep(), period);
    this.sweeper.unref();
    this.shutdown.onDrain(() => this.drain());
    // Not awaited: boot must not wait for Redis (readiness reports it); retried until it holds.
    this.subscribeUntilDone(TOKEN_REVOKED_TOPIC, this.onRevoked);
    this.subscribeUntilDone(SESSION_CLAIMED_TOPIC, this.onClaimed);
  }

  private subscribeUntilDone(topic: string, listener: (message: string) => void): void {
    this.bus.subscribe(topic, listener).catch((err: unknown) => {
      if (this.draining) return;
      this.logger.warn(`subscribing ${topic} failed, retrying: ${String(err)}`);
      setTimeout(() => this.subscribeUntilDone(topic, listener), 2000).unref();
    });
  }

  async onApplicationShutdown(): Promise<void> {
    this.draining = true;
    if (this.sweeper) clearInterval(this.sweeper);
    for (const conn of this.connections) conn.close(CloseCode.GoingAway, 'server going away', true);
    // Stored sessions stay in the store: clients resume them on another replica.
    for (const session of this.fanout.all()) this.fanout.remove(session);
    await this.bus.unsubscribe(TOKEN_REVOKED_TOPIC, this.onRevoked).catch(() => undefined);
    await this.bus.unsubscribe(SESSION_CLAIMED_TOPIC, this.onClaimed).catch(() => undefined);
    this.wss?.close();
  }

  // ---- connections ----

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    try {
      const path = (req.url ?? '').split('?')[0];
      if (path !== GATEWAY_PATH) return reject(socket, 404, 'Not Found');
      if (this.draining) return reject(socket, 503, 'Service Unavailable');
      const origin = req.headers.origin;
      // Browsers always send Origin; clients without one are not browsers and cannot be hijacked.
      if (origin && this.config.allowedOrigins.length > 0 && !this.config.allowedOrigins.includes(origin)) {
        return reject(socket, 403, 'Forbidden');
      }
      this.wss!.handleUpgrade(req, socket, head, (ws) => this.open(ws));
    } catch (err) {
      this.logger.warn(`upgrade failed: ${String(err)}`);
      socket.destroy();
    }
  }

  private open(ws: WebSocket): void {
    const conn = new GatewayConnection(ws, () => this.slowConsumers.inc());
    this.connections.add(conn);
    this.connectionsGauge.inc();
    // `ws` reports oversized frames (it closes 1009 itself) and protocol errors here.
    ws.on('error', (err) => this.logger.debug(`socket error: ${err.message}`));
    ws.on('message', (data: RawData, isBinary: boolean) => this.receive(conn, data, isBinary));
    ws.on('close', () => this.closed(conn));
    conn.send(helloFrame(this.config.gatewayHeartbeatMs));
  }

  private closed(conn: GatewayConnection): void {
    conn.state = 'closed';
    if (!this.connections.delete(conn)) return;
    this.connectionsGauge.dec();
    const session = conn.session;
    conn.session = undefined;
    if (session && session.socket === conn) {
      session.detach();
      this.presence?.endSession(session.userId, session.id).catch(() => undefined);
    }
  }

  /** Every client frame lands here; nothing in it may throw out. */
  private receive(conn: GatewayConnection, data: RawData, isBinary: boolean): void {
    try {
      if (conn.state === 'closed') return;
      if (!conn.countFrame(Date.now())) return conn.close(CloseCode.RateLimited, 'rate limited');
      if (isBinary) return conn.close(CloseCode.DecodeError, 'binary frames are not accepted');
      const text = Array.isArray(data)
        ? Buffer.concat(data).toString('utf8')
        : Buffer.from(data as Buffer).toString('utf8');
      const parsed = parseClientFrame(text);
      if (!parsed.ok) return conn.close(parsed.code, parsed.reason);
      this.handle(conn, parsed.frame);
    } catch (err) {
      this.logger.error(`frame handling failed: ${String(err)}`);
      conn.close(CloseCode.UnknownError, 'unknown error');
    }
  }

  private handle(conn: GatewayConnection, frame: ClientFrame): void {
    switch (frame.op) {
      case 'HEARTBEAT': {
        conn.lastHeartbeatAt = Date.now();
        conn.send(HEARTBEAT_ACK_FRAME);
        const session = conn.session;
        if (session) this.keepAlive(session);
        return;
      }
      case 'IDENTIFY':
      case 'RESUME': {
        if (conn.state !== 'new')
          return conn.close(
            CloseCode.DecodeError,
            `${frame.op} is only valid once, before the session starts`,
          );
        conn.state = 'identifying';
        const work = frame.op === 'IDENTIFY' ? this.identify(conn, frame.token) : this.resume(conn, frame);
        work.catch((err: unknown) => {
          this.logger.error(`${frame.op} failed: ${err instanceof Error ? err.message : String(err)}`);
          conn.close(CloseCode.UnknownError, 'unknown error');
        });
        return;
      }
    }
  }

  private async authenticate(conn: GatewayConnection, token: string) {
    const user = token && token.length <= MAX_TOKEN_LENGTH ? await this.users.authenticate(token) : undefined;
    if (!user) conn.close(CloseCode.AuthenticationFailed, 'authentication failed');
    return conn.state === 'closed' ? undefined : user;
  }

  private async identify(conn: GatewayConnection, token: string): Promise<void> {
    const auth = await this.authenticate(conn, token);
    if (!auth) return;
    const [user, channels] = await Promise.all([this.users.get(auth.id), this.membership.channelsOf(auth)]);
    const session = this.newSession(randomBytes(16).toString('hex'), auth.id, auth.tokenHash);
    await this.store.create(session.id, auth.id, auth.tokenHash, session.owner);
    await this.fanout.register(
      session,
      channels.map((c) => c.id),
    );
    if (conn.state === 'closed') {
      // Gone before READY: nobody knows this session id.
      this.fanout.remove(session);
      await this.store.destroy(session.id);
      return;
    }
    this.attach(conn, session);
    const ready: ReadyData = { sessionId: session.id, user: toUserView(user), channels };
    session.emit('READY', JSON.stringify(ready), '');
    session.finishBuffering();
  }

  private async resume(
    conn: GatewayConnection,
    frame: Extract<ClientFrame, { op: 'RESUME' }>,
  ): Promise<void> {
    const auth = await this.authenticate(conn, frame.token);
    if (!auth) return;
    let session = this.fanout.get(frame.sessionId);
    let gapFrom: number | undefined;
    if (session) {
      // Ours already (the client reconnected here, maybe before we noticed its old socket died).
      if (session.userId !== auth.id) return this.invalidSession(conn);
      const old = session.socket as GatewayConnection | undefined;
      if (old) {
        session.detach();
        old.session = undefined;
        old.close(CloseCode.UnknownError, 'session resumed on another connection');
      }
      session.startBuffering();
      session.tokenHash = auth.tokenHash;
      if (!(await this.store.claim(session.id, auth.id, auth.tokenHash, session.owner)))
        return this.abandon(conn, session);
    } else {
      // Another replica's (or a dead one's): follow its topics first, then take it over, so nothing falls between.
      session = this.newSession(frame.sessionId, auth.id, auth.tokenHash);
      await this.fanout.register(session, await this.membership.channelIdsOf(auth.id));
      const claimed = await this.store.claim(session.id, auth.id, auth.tokenHash, session.owner);
      if (!claimed) return this.abandon(conn, session);
      session.seq = claimed.lastSeq;
      // Nothing from before the session began: it never had those.
      gapFrom = Math.max(claimed.createdAt, claimed.lastAt - GAP_FILL_MARGIN_MS);
      this.bus
        .publish(SESSION_CLAIMED_TOPIC, JSON.stringify({ sessionId: session.id, owner: session.owner }))
        .catch((err: unknown) => {
          this.logger.warn(`announcing the takeover of ${session!.id} failed: ${String(err)}`);
        });
    }
    const replay = await this.store.framesAfter(session.id, frame.seq);
    if (!replay) return this.abandon(conn, session);
    for (const id of replay.eventIds) session.remember(id);
    if (gapFrom !== undefined) {
      // The old owner may have died before storing some events: fill in from the outbox, deduped by id.
      const missed = await this.membership.eventsSince(auth.id, gapFrom);
      if (!missed) return this.abandon(conn, session);
      session.prependBuffered(missed);
    }
    if (conn.state === 'closed') {
      session.finishBuffering();
      return;
    }
    this.attach(conn, session);
    for (const f of replay.frames) conn.send(f.frame);
    session.seq = Math.max(session.seq, replay.frames.at(-1)?.seq ?? 0);
    session.finishBuffering();
    const resumed: ResumedData = { sessionId: session.id };
    session.emit('RESUMED', JSON.stringify(resumed), '');
  }

  private newSession(id: string, userId: string, tokenHash: string): Session {
    return new Session(
      id,
      userId,
      tokenHash,
      randomBytes(12).toString('hex'),
      this.store,
      (s) => this.lost(s),
      this.logger,
    );
  }

  private attach(conn: GatewayConnection, session: Session): void {
    session.attach(conn);
    conn.session = session;
    conn.state = 'ready';
    this.keepAlive(session);
  }

  private keepAlive(session: Session): void {
    this.store.touch(session.id).catch(() => undefined);
    this.presence
      ?.touchSession(
        session.userId,
        session.id,
        Math.min(60_000, this.config.gatewayHeartbeatMs * 1.5 + 5000),
      )
      .catch(() => undefined);
  }

  /** Resume impossible: forget the session and let the client identify again on this socket. */
  private async abandon(conn: GatewayConnection, session: Session): Promise<void> {
    this.fanout.remove(session);
    await this.store.destroy(session.id).catch(() => undefined);
    this.invalidSession(conn);
  }

  private invalidSession(conn: GatewayConnection): void {
    if (conn.state === 'closed') return;
    conn.send(INVALID_SESSION_FRAME);
    conn.state = 'new';
    conn.waitingSince = Date.now();
  }

  /** The store refused a write: another replica owns the session now. */
  private lost(session: Session): void {
    if (this.fanout.get(session.id) !== session) return;
    this.fanout.remove(session);
    const conn = session.socket as GatewayConnection | undefined;
    session.detach();
    if (conn) {
      conn.session = undefined;
      conn.close(CloseCode.UnknownError, 'session taken over');
    }
  }

  // ---- bus listeners (must never throw) ----

  private releaseClaimed(message: string): void {
    try {
      const { sessionId, owner } = JSON.parse(message) as { sessionId: string; owner: string };
      const session = this.fanout.get(sessionId);
      if (session && session.owner !== owner) this.lost(session);
    } catch {
      this.logger.warn('malformed session-claimed message');
    }
  }

  private revoke(message: string): void {
    try {
      const { userId, tokenHash } = JSON.parse(message) as { userId: string; tokenHash: string };
      for (const session of this.fanout.all()) {
        if (session.userId !== userId || session.tokenHash !== tokenHash) continue;
        this.fanout.remove(session);
        this.store.destroy(session.id).catch(() => undefined);
        const conn = session.socket as GatewayConnection | undefined;
        session.detach();
        conn?.close(CloseCode.AuthenticationFailed, 'token revoked');
      }
    } catch {
      this.logger.warn('malformed token-revoked message');
    }
  }

  // ---- deadlines and shutdown ----

  private sweep(): void {
    try {
      const now = Date.now();
      const heartbeatDeadline = this.config.gatewayHeartbeatMs * 1.5;
      for (const conn of this.connections) {
        if (conn.state === 'new' && now - conn.waitingSince > this.config.gatewayIdentifyTimeoutMs) {
          conn.close(CloseCode.NotAuthenticated, 'not authenticated');
        } else if (now - conn.lastHeartbeatAt > heartbeatDeadline) {
          conn.close(CloseCode.SessionTimedOut, 'session timed out');
        }
      }
      for (const session of this.fanout.all()) {
        if (
          session.detachedAt !== undefined &&
          now - session.detachedAt > this.config.gatewayResumeWindowMs
        ) {
          // Nobody collects for it any more: a later resume must not look complete.
          this.fanout.remove(session);
          this.store.destroy(session.id).catch(() => undefined);
        }
      }
    } catch (err) {
      this.logger.error(`sweep failed: ${String(err)}`);
    }
  }

  /** SIGTERM: close every socket with 1001, then keep collecting until clients resumed elsewhere. */
  private async drain(): Promise<void> {
    this.draining = true;
    for (const conn of this.connections) conn.close(CloseCode.GoingAway, 'server going away');
    // Only another replica can take sessions over; embedded, there is nobody to wait for.
    if (!this.config.redisUrl) return;
    const deadline = Date.now() + Math.min(DRAIN_HANDOFF_MS, this.config.shutdownTimeoutMs / 2);
    while (this.fanout.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  }
}

function reject(socket: Duplex, status: number, text: string): void {
  socket.on('error', () => undefined);
  socket.once('finish', () => socket.destroy());
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}
