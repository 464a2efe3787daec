/**
 * The webhooks bench's baseline, in its own process: a plain HTTP client posting signed bodies to
 * the same receiver endpoints at the same concurrency as the server's workers, with nothing else
 * (no database, no claiming, no retries). Argument: JSON `{urls, total, concurrency}`; prints
 * `{"seconds", "done", "failed"}` on stdout.
 */
import { createHmac, randomBytes } from 'node:crypto';
import * as http from 'node:http';

interface Args {
  urls: string[];
  total: number;
  concurrency: number;
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const agent = new http.Agent({ keepAlive: true, maxSockets: args.concurrency });
const key = randomBytes(32);
const body = JSON.stringify({
  type: 'message.created',
  timestamp: new Date().toISOString(),
  data: { id: '1', channelId: '1', content: 'x'.repeat(120) },
});

function post(url: URL, id: number): Promise<boolean> {
  const ts = Math.floor(Date.now() / 1000);
  const sig = `v1,${createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest('base64')}`;
  return new Promise((resolve) => {
    const req = http.request(
      {
        hostname: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
          'webhook-id': String(id),
          'webhook-timestamp': String(ts),
          'webhook-signature': sig,
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve((res.statusCode ?? 0) < 300));
      },
    );
    req.on('error', () => resolve(false));
    req.end(body);
  });
}

async function main(): Promise<void> {
  const urls = args.urls.map((u) => new URL(u));
  let next = 0;
  let done = 0;
  let failed = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: args.concurrency }, async () => {
      for (let i = next++; i < args.total; i = next++) {
        if (await post(urls[i % urls.length]!, i)) done++;
        else failed++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(`${JSON.stringify({ seconds, done, failed })}\n`);
  agent.destroy();
}

void main();
