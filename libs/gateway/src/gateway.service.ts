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
import { AppConfig, MetricsService, PRESENCE, type PresencePort, ShutdownState } from '@cariosan/core';
import { UsersService } from '@cariosan/users';
import { GatewayConnection } from './gateway-connection';
import {
  CloseCode,
  HEARTBEAT_ACK_FRAME,
  helloFrame,
  INVALID_SESSION_FRAME,
  MAX_FRAME_BYTES,
  parseClientFrame,
  type ClientFrame,
} from './protocol';
import type { Session } from './session';
import { SessionManager } from './session-manager';

export const GATEWAY_PATH = '/gateway';
const MAX_TOKEN_LENGTH = 512;

/**
 * The WebSocket gateway at /gateway on the HTTP server, outside Nest's per-message machinery:
 * raw `ws` with maxPayload and one sweep timer for every deadline. Sessions are SessionManager's,
 * delivery is Fanout's. See docs/gateway.md.
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

  constructor(
    private readonly config: AppConfig,
    private readonly adapterHost: HttpAdapterHost,
    private readonly shutdown: ShutdownState,
    private readonly users: UsersService,
    private readonly sessions: SessionManager,
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
  }

  async onApplicationShutdown(): Promise<void> {
    if (!this.draining) await this.drain();
    if (this.sweeper) clearInterval(this.sweeper);
    for (const conn of this.connections) conn.close(CloseCode.GoingAway, 'server going away', true);
    this.wss?.close();
  }

  // ---- connections ----

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    try {
      const path = (req.url ?? '').split('?')[0];
      // Draining: cut the connection without an answer, so a proxy retries the next upstream.
      if (this.draining) return void socket.destroy();
      if (path !== GATEWAY_PATH) return reject(socket, 404, 'Not Found');
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
        const work = this.start(conn, frame);
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

  private async start(conn: GatewayConnection, frame: Extract<ClientFrame, { op: 'IDENTIFY' | 'RESUME' }>) {
    const auth = await this.authenticate(conn, frame.token);
    if (!auth) return;
    if (frame.op === 'IDENTIFY') await this.sessions.identify(conn, auth);
    else if ((await this.sessions.resume(conn, auth, frame.sessionId, frame.seq)) === 'invalid')
      this.invalidSession(conn);
    if (conn.session) this.keepAlive(conn.session);
  }

  private keepAlive(session: Session): void {
    this.presence
      ?.touchSession(
        session.userId,
        session.id,
        Math.min(60_000, this.config.gatewayHeartbeatMs * 1.5 + 5000),
      )
      .catch(() => undefined);
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
      for (const conn of this.connections) {
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
    for (const conn of this.connections) conn.close(CloseCode.GoingAway, 'server going away');
  }
}

function reject(socket: Duplex, status: number, text: string): void {
  socket.on('error', () => undefined);
  socket.once('finish', () => socket.destroy());
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}
