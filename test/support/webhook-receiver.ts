import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** One request a receiver got, checked with the `standardwebhooks` package (not our code). */
export interface ReceivedDelivery {
  webhookId: string;
  timestamp: string;
  signature: string;
  body: string;
  payload: { type: string; timestamp: string; data: any };
  /** The secrets (of those given) whose signature is among the header's. */
  verifiedWith: string[];
  at: number;
  /** Which webhook (by path) it came to. */
  path: string;
}

export type Answer = (
  req: ReceivedDelivery,
  n: number,
) => number | { status: number; headers?: Record<string, string> };

/**
 * A webhook receiver on loopback. `answer` decides each status (default 200); `secrets` maps a
 * path to the secrets to verify its deliveries with. Every request is kept, verified or not.
 */
export class WebhookReceiver {
  readonly received: ReceivedDelivery[] = [];
  readonly secrets = new Map<string, string[]>();
  answer: Answer = () => 200;
  /** Called instead of answering: for slow, endless or huge bodies. */
  raw: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<WebhookReceiver> {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    const receiver = new WebhookReceiver(server, `http://127.0.0.1:${port}`);
    server.on('connection', (s) => {
      receiver.sockets.add(s);
      s.on('close', () => receiver.sockets.delete(s));
    });
    server.on('request', (req, res) => receiver.onRequest(req, res));
    return receiver;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const path = req.url ?? '/';
      const headers = {
        'webhook-id': String(req.headers['webhook-id'] ?? ''),
        'webhook-timestamp': String(req.headers['webhook-timestamp'] ?? ''),
        'webhook-signature': String(req.headers['webhook-signature'] ?? ''),
      };
      const verifiedWith = (this.secrets.get(path) ?? []).filter((secret) => {
        try {
          new Webhook(secret).verify(body, headers);
          return true;
        } catch {
          return false;
        }
      });
      let payload: ReceivedDelivery['payload'];
      try {
        payload = JSON.parse(body);
      } catch {
        payload = { type: '?', timestamp: '', data: null };
      }
      const delivery: ReceivedDelivery = {
        webhookId: headers['webhook-id'],
        timestamp: headers['webhook-timestamp'],
        signature: headers['webhook-signature'],
        body,
        payload,
        verifiedWith,
        at: Date.now(),
        path,
      };
      this.received.push(delivery);
      if (this.raw) {
        this.raw(req, res);
        return;
      }
      const a = this.answer(delivery, this.received.filter((d) => d.path === path).length);
      const { status, headers: extra } = typeof a === 'number' ? { status: a, headers: {} } : a;
      res.writeHead(status, { 'content-type': 'text/plain', ...extra });
      res.end('ok');
    });
  }

  /** Deliveries to one path. */
  to(path: string): ReceivedDelivery[] {
    return this.received.filter((d) => d.path === path);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
  }
}
