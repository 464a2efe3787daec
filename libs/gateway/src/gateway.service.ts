import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { AppConfig, MetricsService, ShutdownState } from '@cariosan/core';
import { PresenceService } from '@cariosan/presence';
import { forwardedClientIp, RateLimiters } from '@cariosan/ratelimit';
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
  /** Connections that have not identified yet, per client IP. */
  private readonly unidentified = new Map<string, number>();
  /** Live connections by the id their session holds in the presence store. */
  private readonly byPresenceId = new Map<string, GatewayConnection>();
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
    private readonly presence: PresenceService,
    private readonly limiters: RateLimiters,
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
    this.presence.onEvicted((id) => this.evict(id));
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
      const ip = forwardedClientIp(
        req.socket.remoteAddress,
        req.headers['x-forwarded-for'],
        this.config.trustProxyHops,
      );
      if ((this.unidentified.get(ip) ?? 0) >= this.config.gatewayMaxUnidentifiedPerIp)
        return reject(socket, 429, 'Too Many Requests');
      const origin = req.headers.origin;
      // Browsers always send Origin; clients without one are not browsers and cannot be hijacked.
      if (origin && this.config.allowedOrigins.length > 0 && !this.config.allowedOrigins.includes(origin)) {
        return reject(socket, 403, 'Forbidden');
      }
      this.wss!.handleUpgrade(req, socket, head, (ws) => this.open(ws, ip));
    } catch (err) {
      this.logger.warn(`upgrade failed: ${String(err)}`);
      socket.destroy();
    }
  }

  private open(ws: WebSocket, ip: string): void {
    const conn = new GatewayConnection(ws, ip, this.limiters.frameLimiter(), () => this.slowConsumers.inc());
    this.connections.add(conn);
    this.unidentified.set(ip, (this.unidentified.get(ip) ?? 0) + 1);
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
    this.identified(conn);
    const session = conn.session;
    conn.session = undefined;
    if (session && session.socket === conn) session.detach();
    const held = conn.presence;
    if (held) {
      conn.presence = undefined;
      this.byPresenceId.delete(held.sessionId);
      void this.presence.disconnect(held.userId, held.sessionId);
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

  /** Every client frame lands here; nothing in it may throw out. */
  private receive(conn: GatewayConnection, data: RawData, isBinary: boolean): void {
    try {
      if (conn.state === 'closed') return;
      if (!conn.countFrame()) return conn.close(CloseCode.RateLimited, 'rate limited');
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
    // Authenticated: no longer an anonymous socket of its IP (READY may reach the client before the session is stored).
    this.identified(conn);
    if (frame.op === 'IDENTIFY') await this.sessions.identify(conn, auth);
    else if ((await this.sessions.resume(conn, auth, frame.sessionId, frame.seq)) === 'invalid')
      this.invalidSession(conn);
    const session = conn.session;
    if (!session || conn.state !== 'ready') return;
    this.identified(conn);
    // Each live connection holds its own presence entry: a resume elsewhere adds the new one
    // before the old one's grace runs out, so the user never flaps offline.
    const held = {
      userId: session.userId,
      sessionId: randomBytes(12).toString('hex'),
      startedAt: Date.now(),
    };
    conn.presence = held;
    this.byPresenceId.set(held.sessionId, conn);
    await this.presence.connect(held);
  }

  /** The user went over their session cap and this is their oldest: it ends for good (4008). */
  private evict(presenceId: string): void {
    const conn = this.byPresenceId.get(presenceId);
    if (!conn) return;
    const session = conn.session;
    if (session) this.sessions.end(session, CloseCode.RateLimited, 'too many sessions');
    else conn.close(CloseCode.RateLimited, 'too many sessions');
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
