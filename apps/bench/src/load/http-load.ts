import { Agent, request } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { ClosedLoopResult, HttpLoadTask } from './protocol';
import { clientLoad, randomBetween } from './loop';
import { benchContent } from './protocol';

interface HttpAnswer {
  status: number;
  body: string;
}

/** One request on a keep-alive agent; the body is read fully so the socket is reused. */
export function httpRequest(
  agent: Agent,
  url: URL,
  method: string,
  headers: Record<string, string>,
  body?: string,
  timeoutMs = 30_000,
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method,
        headers,
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

/** Closed-loop REST load: each token is one client with its own keep-alive connection. */
export async function runHttpLoad(task: HttpLoadTask): Promise<ClosedLoopResult> {
  const agents = task.tokens.map(() => new Agent({ keepAlive: true, maxSockets: 1 }));
  const bases = (task.baseUrls?.length ? task.baseUrls : [task.baseUrl]).map((u) => new URL(u));
  let seq = 0;
  const minId = BigInt(task.history?.minId ?? '0');
  const maxId = BigInt(task.history?.maxId ?? '0');
  const nonceSalt = randomBytes(4).toString('hex');
  const result = await clientLoad(task, task.tokens.length, async (client) => {
    const base = bases[client % bases.length]!;
    const headers: Record<string, string> = { authorization: `Bearer ${task.tokens[client]}` };
    let res: HttpAnswer;
    if (task.mode === 'post') {
      const n = seq++;
      const body = JSON.stringify({
        content: benchContent(n, task.contentLength),
        nonce: `${nonceSalt}-${n}`,
      });
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
      res = await httpRequest(
        agents[client]!,
        new URL(`/api/v1/channels/${task.channelIds[client % task.channelIds.length]}/messages`, base),
        'POST',
        headers,
        body,
      );
      return res.status === 201 ? undefined : `${res.status}: ${res.body.slice(0, 300)}`;
    }
    const before = randomBetween(minId, maxId).toString();
    const url = new URL(
      `/api/v1/channels/${task.channelIds[0]}/messages?before=${before}&limit=${task.history?.limit ?? 50}`,
      base,
    );
    res = await httpRequest(agents[client]!, url, 'GET', headers);
    return res.status === 200 ? undefined : `${res.status}: ${res.body.slice(0, 300)}`;
  });
  for (const a of agents) a.destroy();
  return result;
}
