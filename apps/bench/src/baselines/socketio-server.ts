/**
 * The "what a Node team would pick instead" baseline: Socket.IO 4 with its Redis adapter, run as
 * several replicas on one Redis, and a `pg.Pool`. `POST /api/v1/channels/:id/messages` inserts the
 * message with one autocommit statement and broadcasts it to the channel's room (every replica
 * gets it through Redis pub/sub); sockets join that room when they connect with `?join=<id>`.
 *
 * It is deliberately what such a team ships first: the bearer token *is* the author id (no auth
 * lookup), no membership check, no outbox (a crash between commit and broadcast loses the event),
 * no per-channel ordering of ids, no resume. The bench measures our server against it.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createAdapter } from '@socket.io/redis-adapter';
import Redis from 'ioredis';
import { Pool } from 'pg';
import { Server } from 'socket.io';
import { SOCKET_IO_INSERT_SQL, SOCKET_IO_REPLAY_SQL } from './socketio-schema';

const port = Number(process.env.BENCH_PORT);
const pool = new Pool({
  connectionString: process.env.BENCH_SIO_DATABASE_URL,
  max: Number(process.env.BENCH_SIO_POOL_SIZE) || 10,
});
// An idle client's connection dropping must not take the process down.
pool.on('error', () => {});
const pub = new Redis(process.env.BENCH_SIO_REDIS_URL ?? 'redis://127.0.0.1:6379');
const sub = pub.duplicate();
pub.on('error', () => {});
sub.on('error', () => {});

const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();

const POST_PATH = /^\/api\/v1\/channels\/(\d+)\/messages$/;

interface InsertedRow {
  id: string;
  created_at: Date;
}

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(body);
}

async function postMessage(req: IncomingMessage, res: ServerResponse, channelId: string): Promise<void> {
  const authorId = /^Bearer (\d+)$/.exec(req.headers.authorization ?? '')?.[1];
  if (!authorId) return send(res, 401, '{"error":"no author"}');
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  let input: { content?: unknown; nonce?: unknown };
  try {
    input = JSON.parse(Buffer.concat(chunks).toString()) as typeof input;
  } catch {
    return send(res, 400, '{"error":"bad json"}');
  }
  if (typeof input.content !== 'string' || input.content.length === 0)
    return send(res, 400, '{"error":"content"}');
  const nonce = typeof input.nonce === 'string' ? input.nonce : null;
  let row: InsertedRow | undefined;
  let created = true;
  try {
    row = (await pool.query<InsertedRow>(SOCKET_IO_INSERT_SQL, [channelId, authorId, input.content, nonce]))
      .rows[0];
    if (!row && nonce !== null) {
      // A retry of a post that committed: answer the stored one, broadcast nothing.
      created = false;
      row = (await pool.query<InsertedRow>(SOCKET_IO_REPLAY_SQL, [authorId, channelId, nonce])).rows[0];
    }
  } catch (err) {
    return send(res, 503, JSON.stringify({ error: err instanceof Error ? err.message : String(err) }));
  }
  if (!row) return send(res, 409, '{"error":"conflict"}');
  // The same shape as the server's message view, so frames carry comparable bytes.
  const message = {
    id: row.id,
    channelId,
    author: { id: authorId, username: `user${authorId}`, displayName: `user${authorId}` },
    content: input.content,
    nonce,
    parentId: null,
    attachments: [],
    mentions: [],
    reactions: [],
    createdAt: row.created_at.toISOString(),
    editedAt: null,
  };
  if (created) io.to(`channel:${channelId}`).emit('MESSAGE_CREATE', message);
  send(res, created ? 201 : 200, JSON.stringify(message));
}

const http = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/healthz') return send(res, 200, '{"status":"ok"}');
  if (req.method === 'GET' && req.url === '/metrics') {
    // The figure prom-client exports for our server, so every side reports event-loop delay alike.
    const p99 = loopDelay.percentile(99) / 1e9;
    loopDelay.reset();
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`nodejs_eventloop_lag_p99_seconds ${p99}\n`);
    return;
  }
  const channelId = req.method === 'POST' ? POST_PATH.exec(req.url ?? '')?.[1] : undefined;
  if (channelId) {
    postMessage(req, res, channelId).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, JSON.stringify({ error: String(err) }));
    });
    return;
  }
  // Anything else that is not Socket.IO's own path.
  if (!req.url?.startsWith('/socket.io/')) send(res, 404, '{"error":"not found"}');
});

const io = new Server(http, {
  serveClient: false,
  adapter: createAdapter(pub, sub, { key: process.env.BENCH_SIO_ADAPTER_KEY ?? 'socket.io' }),
});

io.on('connection', (socket) => {
  const join = socket.handshake.query.join;
  if (typeof join === 'string' && /^\d+$/.test(join)) void socket.join(`channel:${join}`);
});

async function start(): Promise<void> {
  // Ready only once Redis (both clients) and Postgres answer, like our server's readiness.
  await Promise.all([pub.ping(), sub.ping(), pool.query('SELECT 1')]);
  http.listen(port, '127.0.0.1');
}

start().catch((err: unknown) => {
  process.stderr.write(`socket.io baseline failed to start: ${String(err)}\n`);
  process.exit(1);
});

process.on('SIGTERM', () => {
  void io.close();
  pub.disconnect();
  sub.disconnect();
  void pool.end().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 3000).unref();
});
