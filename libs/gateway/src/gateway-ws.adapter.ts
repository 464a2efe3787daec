import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { type INestApplicationContext, Logger } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import type { MessageMappingProperties } from '@nestjs/websockets';
import type { Observable } from 'rxjs';
import { type RawData, WebSocket, type WebSocketServer } from 'ws';
import { RateLimiters } from '@cariosan/ratelimit';
import { CloseCode, parseClientFrame } from './protocol';

/** What a gateway decides about an upgrade request before the handshake. */
export type UpgradeVerdict =
  | { accept: true }
  /** Cut the TCP connection without an answer: a proxy retries the next upstream. */
  | { accept: false; drop: true }
  | { accept: false; drop?: false; status: number; text: string };

export type UpgradeGate = (req: IncomingMessage) => UpgradeVerdict;

/** A client's frame budget: false once it is spent. */
export interface FrameBudget {
  consume(): boolean;
}

export interface GatewayWsAdapterOptions {
  /** A fresh budget for each connection, counted before a frame is even decoded. */
  frameBudget: () => FrameBudget;
}

/** How long a closing socket may take to answer the close handshake before it is cut. */
const CLOSE_GRACE_MS = 2000;

/** Closes with a code, or cuts at once (`hard`); the peer gets `CLOSE_GRACE_MS` to answer. */
export function closeSocket(ws: WebSocket, code: number, reason: string, hard = false): void {
  try {
    if (hard) return ws.terminate();
    if (ws.readyState !== WebSocket.OPEN && ws.readyState !== WebSocket.CONNECTING) return;
    ws.close(code, reason);
    setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
  } catch {
    ws.terminate();
  }
}

/** A client frame whose handling failed: logged (never sent), and the socket closes 4000 so the client resumes. */
export function frameFailed(logger: Logger, ws: WebSocket, err: unknown): void {
  logger.error(`frame handling failed: ${err instanceof Error ? err.message : String(err)}`);
  closeSocket(ws, CloseCode.UnknownError, 'unknown error');
}

const gates = new WeakMap<WebSocketServer, UpgradeGate>();

/** A gateway's `afterInit` hands its server's admission rule to the adapter here. */
export function gateUpgrades(server: WebSocketServer, gate: UpgradeGate): void {
  gates.set(server, gate);
}

/**
 * Nest's `ws` adapter, configured for the contract's frames:
 *
 * - Upgrades: a path no gateway serves gets 404 (Nest's adapter only destroys the socket), and
 *   each gateway's gate (`gateUpgrades`) may refuse with a status or drop the connection.
 * - Client frames: counted against the connection's budget (4008), text only (4002), decoded as
 *   `{op, d}` (4002 with the reason) and handed to the `@SubscribeMessage(op)` handler with the
 *   decoded frame. Handlers answer by writing to the socket; nothing goes through rxjs per frame.
 *
 * The fanout path never comes here: dispatches are written to sockets directly.
 */
export class GatewayWsAdapter extends WsAdapter {
  private readonly log = new Logger('Gateway');

  constructor(
    app: INestApplicationContext,
    private readonly options: GatewayWsAdapterOptions,
  ) {
    super(app);
  }

  /** The server's adapter: frame budgets from the rate-limit module's settings. */
  static forApp(app: INestApplicationContext): GatewayWsAdapter {
    const limiters = app.get(RateLimiters);
    return new GatewayWsAdapter(app, { frameBudget: () => limiters.frameLimiter() });
  }

  override bindMessageHandlers(
    client: WebSocket,
    handlers: MessageMappingProperties[],
    _transform: (data: unknown) => Observable<unknown>,
  ): void {
    const reader = new FrameReader(client, handlers, this.options.frameBudget(), this.failed);
    client.on('message', reader.read);
  }

  /** `ws` reports oversized frames (it closes 1009 itself) and protocol errors: not ours to log loudly. */
  override bindErrorHandler(server: WebSocketServer): WebSocketServer {
    // One listener function for every socket: nothing is allocated per connection for it.
    const onSocketError = (err: Error) => this.log.debug(`socket error: ${err.message}`);
    server.on('connection', (ws: WebSocket) => ws.on('error', onSocketError));
    server.on('error', (err) => this.log.warn(`server error: ${err.message}`));
    return server;
  }

  /** Shutdown: the gateway closed its sockets with 1001 while draining; any left get 1001 now, cut after the grace. */
  override async close(server: WebSocketServer): Promise<void> {
    // `ws` calls back once every tracked client is gone, so the stragglers are closed after asking.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const ws of server.clients ?? []) closeSocket(ws, CloseCode.GoingAway, 'server going away');
    await closed;
  }

  protected override ensureHttpServerExists(port: number, httpServer?: Server): Server | undefined {
    if (this.httpServersRegistry.has(port)) return undefined;
    if (!httpServer) return super.ensureHttpServerExists(port, httpServer);
    this.httpServersRegistry.set(port, httpServer);
    httpServer.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.upgrade(port, req, socket, head),
    );
    return httpServer;
  }

  private upgrade(port: number, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    try {
      const path = (req.url ?? '').split('?')[0];
      const servers = (this.wsServersRegistry.get(port) ?? []) as (WebSocketServer & { path: string })[];
      const server = servers.find((s) => s.path === path);
      if (!server) return reject(socket, 404, 'Not Found');
      const verdict = gates.get(server)?.(req) ?? { accept: true };
      if (!verdict.accept) {
        if (verdict.drop) return void socket.destroy();
        return reject(socket, verdict.status, verdict.text);
      }
      server.handleUpgrade(req, socket, head, (ws) => server.emit('connection', ws, req));
    } catch (err) {
      this.log.warn(`upgrade failed: ${String(err)}`);
      socket.destroy();
    }
  }

  private readonly failed = (client: WebSocket, err: unknown): void => frameFailed(this.log, client, err);
}

/**
 * One connection's client frames, read in the order they came. Nest's handlers are async (global
 * guards run first, if only to let non-HTTP calls through), so frames are handed over one after
 * another: answers and a closing verdict keep frame order.
 */
class FrameReader {
  private tail: Promise<unknown> = Promise.resolve();
  /** Set on the first refused frame: nothing is queued behind a verdict, so a flood costs nothing. */
  private refused = false;

  constructor(
    private readonly client: WebSocket,
    private readonly handlers: MessageMappingProperties[],
    private readonly budget: FrameBudget,
    private readonly failed: (client: WebSocket, err: unknown) => void,
  ) {}

  readonly read = (data: RawData, isBinary: boolean): void => {
    // Frames that arrive after a close (ours or the peer's) are not the protocol's any more.
    if (this.refused || this.client.readyState !== WebSocket.OPEN) return;
    try {
      if (!this.budget.consume()) return this.refuse(CloseCode.RateLimited, 'rate limited');
      if (isBinary) return this.refuse(CloseCode.DecodeError, 'binary frames are not accepted');
      const parsed = parseClientFrame(textOf(data));
      if (!parsed.ok) return this.refuse(parsed.code, parsed.reason);
      const frame = parsed.frame;
      const handler = this.handlers.find((h) => h.message === frame.op)?.callback;
      if (!handler) return this.refuse(CloseCode.DecodeError, `op ${frame.op} is not handled`);
      this.then(() => (this.client.readyState === WebSocket.OPEN ? handler(frame, frame.op) : undefined));
    } catch (err) {
      this.failed(this.client, err);
    }
  };

  private refuse(code: number, reason: string): void {
    this.refused = true;
    this.then(() => closeSocket(this.client, code, reason));
  }

  private then(step: () => unknown): void {
    this.tail = this.tail.then(step).catch((err: unknown) => this.failed(this.client, err));
  }
}

function textOf(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data).toString('utf8');
}

function reject(socket: Duplex, status: number, text: string): void {
  socket.on('error', () => undefined);
  socket.once('finish', () => socket.destroy());
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}
