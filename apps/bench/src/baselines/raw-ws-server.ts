/**
 * The fanout baseline: a bare `ws` server that does only what any gateway must do per message,
 * i.e. take a POST, stamp a per-socket sequence into a pre-serialised DISPATCH frame and write
 * it to every member socket. No auth, no database, no Redis: the floor the gateway is held to.
 */
import { createServer } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import WebSocket, { WebSocketServer } from 'ws';

const port = Number(process.env.BENCH_PORT);
const members = new Set<WebSocket>();
const seqs = new WeakMap<WebSocket, number>();
let idle = 0;
let nextId = 1n;
// The same figure prom-client exports for the server, so both sides report event-loop delay alike.
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();

const http = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    return;
  }
  if (req.method === 'GET' && req.url === '/stats') {
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ members: members.size, idle }));
    return;
  }
  if (req.method === 'GET' && req.url === '/metrics') {
    const p99 = loopDelay.percentile(99) / 1e9;
    loopDelay.reset();
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`nodejs_eventloop_lag_p99_seconds ${p99}\n`);
    return;
  }
  if (req.method === 'POST' && req.url === '/publish') {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let content: string;
      try {
        content = (JSON.parse(Buffer.concat(chunks).toString()) as { content: string }).content;
      } catch {
        res.writeHead(400).end();
        return;
      }
      const id = (nextId++).toString();
      // Shaped like the server's MESSAGE_CREATE so the bytes on the wire are comparable.
      const message = {
        id,
        channelId: '1',
        author: { id: '2', username: 'bench-poster', displayName: 'bench-poster' },
        content,
        nonce: null,
        parentId: null,
        attachments: [],
        mentions: [],
        reactions: [],
        createdAt: new Date().toISOString(),
        editedAt: null,
      };
      const d = JSON.stringify(message);
      for (const ws of members) {
        const s = (seqs.get(ws) ?? 0) + 1;
        seqs.set(ws, s);
        ws.send(`{"op":"DISPATCH","t":"MESSAGE_CREATE","s":${s},"d":${d}}`);
      }
      res.writeHead(201, { 'content-type': 'application/json' }).end(d);
    });
    return;
  }
  res.writeHead(404).end();
});

const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
wss.on('connection', (ws, req) => {
  if (req.url === '/member') {
    members.add(ws);
    ws.on('close', () => members.delete(ws));
  } else {
    idle++;
    ws.on('close', () => idle--);
  }
  ws.on('error', () => ws.terminate());
});

http.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
