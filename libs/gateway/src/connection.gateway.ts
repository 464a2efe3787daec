import type { IncomingMessage } from 'node:http';
import { Logger, OnApplicationBootstrap, OnApplicationShutdown, UseFilters } from '@nestjs/common';
import {
  type OnGatewayConnection,
  type OnGatewayDisconnect,
  type OnGatewayInit,
  SubscribeMessage,
  WebSocketGateway,
} from '@nestjs/websockets';
import type { WebSocket, WebSocketServer } from 'ws';
import { AppConfig, MetricsService, ShutdownState } from '@cariosan/core';
import { forwardedClientIp } from '@cariosan/ratelimit';
import { UsersService } from '@cariosan/users';
import { GatewayConnection } from './gateway-connection';
import { GatewayExceptionFilter } from './gateway-exception.filter';
import { gateUpgrades, type UpgradeVerdict } from './gateway-ws.adapter';
import {
  CloseCode,
  type ClientFrame,
  HEARTBEAT_ACK_FRAME,
  helloFrame,
  INVALID_SESSION_FRAME,
  MAX_FRAME_BYTES,
} from './protocol';
import { SessionManager } from './session-manager';
import { SessionPresence } from './session-presence.service';

export const GATEWAY_PATH = '/gateway';
const MAX_TOKEN_LENGTH = 512;

type StartFrame = Extract<ClientFrame, { op: 'IDENTIFY' | 'RESUME' }>;

/**
 * The gateway's connection protocol at /gateway: who may upgrade, HELLO, heartbeats, IDENTIFY and
 * RESUME, the identify and heartbeat deadlines, and drain. Frames reach the handlers decoded by
 * GatewayWsAdapter; sessions are SessionManager's, delivery is Fanout's. See docs/gateway.md.
 */
// No client tracking in `ws`: this class holds the connections (a Set entry and a listener less per socket).
@WebSocketGateway({
  path: GATEWAY_PATH,
  maxPayload: MAX_FRAME_BYTES,
  perMessageDeflate: false,
  clientTracking: false,
})
@UseFilters(GatewayExceptionFilter)
export class ConnectionGateway
  implements
    OnGatewayInit<WebSocketServer>,
    OnGatewayConnection<WebSocket>,
    OnGatewayDisconnect<WebSocket>,
    OnApplicationBootstrap,
    OnApplicationShutdown
{
  private readonly logger = new Logger('Gateway');
  private readonly connections = new Map<WebSocket, GatewayConnection>();
  /** Connections that have not identified yet, per client IP. */
  private readonly unidentified = new Map<string, number>();
  private sweeper: NodeJS.Timeout | undefined;
  private draining = false;
  private readonly connectionsGauge;
  private readonly slowConsumers;

  constructor(
    private readonly config: AppConfig,
    private readonly shutdown: ShutdownState,
    private readonly users: UsersService,
    private readonly sessions: SessionManager,
    private readonly presence: SessionPresence,
    metrics: MetricsService,
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

  afterInit(server: WebSocketServer): void {
    gateUpgrades(server, (req) => this.admit(req));
  }

  onApplicationBootstrap(): void {
    const { gatewayHeartbeatMs, gatewayIdentifyTimeoutMs } = this.config;
    const period = Math.max(
      50,
      Math.min(1000, Math.floor(Math.min(gatewayHeartbeatMs, gatewayIdentifyTimeoutMs) / 4)),
    );
    this.sweeper = setInterval(() => this.sweep(), period);
    this.sweeper.unref();
    this.shutdown.onDrain(() => this.drain());
  }

  async onApplicationShutdown(): Promise<void> {
    if (!this.draining) await this.drain();
    if (this.sweeper) clearInterval(this.sweeper);
    for (const conn of this.connections.values()) conn.close(CloseCode.GoingAway, 'server going away', true);
  }

  // ---- connections ----

  private admit(req: IncomingMessage): UpgradeVerdict {
    // Draining: cut the connection without an answer, so a proxy retries the next upstream.
    if (this.draining) return { accept: false, drop: true };
    if ((this.unidentified.get(this.clientIp(req)) ?? 0) >= this.config.gatewayMaxUnidentifiedPerIp)
      return { accept: false, status: 429, text: 'Too Many Requests' };
    const origin = req.headers.origin;
    // Browsers always send Origin; clients without one are not browsers and cannot be hijacked.
    if (origin && this.config.allowedOrigins.length > 0 && !this.config.allowedOrigins.includes(origin))
      return { accept: false, status: 403, text: 'Forbidden' };
    return { accept: true };
  }

  private clientIp(req: IncomingMessage): string {
    return forwardedClientIp(
      req.socket.remoteAddress,
      req.headers['x-forwarded-for'],
      this.config.trustProxyHops,
    );
  }

  /** Called by Nest for each upgraded socket; must never throw (it runs inside an rxjs subscriber). */
  handleConnection(ws: WebSocket, req: IncomingMessage): void {
    try {
      const conn = new GatewayConnection(ws, this.clientIp(req), () => this.slowConsumers.inc());
      this.connections.set(ws, conn);
      this.unidentified.set(conn.ip, (this.unidentified.get(conn.ip) ?? 0) + 1);
      this.connectionsGauge.inc();
      conn.send(helloFrame(this.config.gatewayHeartbeatMs));
    } catch (err) {
      this.logger.error(`opening a connection failed: ${String(err)}`);
      ws.terminate();
    }
  }

  handleDisconnect(ws: WebSocket): void {
    try {
      const conn = this.connections.get(ws);
      if (!conn) return;
      this.connections.delete(ws);
      conn.state = 'closed';
      this.connectionsGauge.dec();
      this.identified(conn);
      const session = conn.session;
      conn.session = undefined;
      if (session && session.socket === conn) session.detach();
      this.presence.offline(conn);
    } catch (err) {
      this.logger.error(`closing a connection failed: ${String(err)}`);
    }
  }

  /** The connection no longer counts as unidentified (it identified, or closed). */
  private identified(conn: GatewayConnection): void {
    if (conn.identified) return;
    conn.identified = true;
    const n = (this.unidentified.get(conn.ip) ?? 1) - 1;
    if (n > 0) this.unidentified.set(conn.ip, n);
    else this.unidentified.delete(conn.ip);
  }

  // ---- client frames (decoded by GatewayWsAdapter) ----

  @SubscribeMessage('HEARTBEAT')
  heartbeat(ws: WebSocket): void {
    const conn = this.connections.get(ws);
    if (!conn || conn.state === 'closed') return;
    conn.lastHeartbeatAt = Date.now();
    conn.send(HEARTBEAT_ACK_FRAME);
  }

  @SubscribeMessage('IDENTIFY')
  identify(ws: WebSocket, frame: StartFrame): void {
    this.begin(ws, frame);
  }

  @SubscribeMessage('RESUME')
  resume(ws: WebSocket, frame: StartFrame): void {
    this.begin(ws, frame);
  }

  private begin(ws: WebSocket, frame: StartFrame): void {
    const conn = this.connections.get(ws);
    if (!conn || conn.state === 'closed') return;
    if (conn.state !== 'new')
      return conn.close(CloseCode.DecodeError, `${frame.op} is only valid once, before the session starts`);
    conn.state = 'identifying';
    this.start(conn, frame).catch((err: unknown) => {
      this.logger.error(`${frame.op} failed: ${err instanceof Error ? err.message : String(err)}`);
      conn.close(CloseCode.UnknownError, 'unknown error');
    });
  }

  private async start(conn: GatewayConnection, frame: StartFrame): Promise<void> {
    const token = frame.token;
    const auth = token && token.length <= MAX_TOKEN_LENGTH ? await this.users.authenticate(token) : undefined;
    if (!auth) return conn.close(CloseCode.AuthenticationFailed, 'authentication failed');
    if (conn.state === 'closed') return;
    // Authenticated: no longer an anonymous socket of its IP (READY may reach the client before the session is stored).
    this.identified(conn);
    if (frame.op === 'IDENTIFY') await this.sessions.identify(conn, auth);
    else if ((await this.sessions.resume(conn, auth, frame.sessionId, frame.seq)) === 'invalid')
      this.invalidSession(conn);
    const session = conn.session;
    if (!session || conn.state !== 'ready') return;
    await this.presence.online(conn, session.userId);
  }

  /** Resume impossible: the client may identify again on this socket. */
  private invalidSession(conn: GatewayConnection): void {
    if (conn.state === 'closed') return;
    conn.send(INVALID_SESSION_FRAME);
    conn.state = 'new';
    conn.waitingSince = Date.now();
  }

  // ---- deadlines and shutdown ----

  private sweep(): void {
    try {
      const now = Date.now();
      const heartbeatDeadline = this.config.gatewayHeartbeatMs * 1.5;
      for (const conn of this.connections.values()) {
        if (conn.state === 'new' && now - conn.waitingSince > this.config.gatewayIdentifyTimeoutMs) {
          conn.close(CloseCode.NotAuthenticated, 'not authenticated');
        } else if (now - conn.lastHeartbeatAt > heartbeatDeadline) {
          conn.close(CloseCode.SessionTimedOut, 'session timed out');
        }
      }
      this.sessions.expire(now);
    } catch (err) {
      this.logger.error(`sweep failed: ${String(err)}`);
    }
  }

  /**
   * SIGTERM: upgrades are cut from now on (proxies retry elsewhere), every session's state is
   * flushed and released, then every socket gets 1001 and its client resumes on another replica.
   */
  private async drain(): Promise<void> {
    this.draining = true;
    await this.sessions.releaseAll();
    for (const conn of this.connections.values()) conn.close(CloseCode.GoingAway, 'server going away');
  }
}
