import WebSocket from 'ws';

export interface Frame {
  op: string;
  d?: any;
  s?: number;
  t?: string;
}

/** A small gateway client for tests: records every frame, heartbeats by itself unless told not to. */
export class GatewayClient {
  readonly frames: Frame[] = [];
  close: { code: number; reason: string } | undefined;
  readonly closed: Promise<{ code: number; reason: string }>;
  heartbeatInterval = 0;
  private timer: NodeJS.Timeout | undefined;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      if (!isBinary) this.frames.push(JSON.parse((data as Buffer).toString('utf8')) as Frame);
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        if (this.timer) clearInterval(this.timer);
        this.close = { code, reason: reason.toString() };
        resolve(this.close);
      }),
    );
    ws.on('error', () => undefined);
  }

  /** Opens a socket to `<baseUrl>/gateway` and waits for HELLO. */
  static async connect(
    baseUrl: string,
    opts: { heartbeat?: boolean; origin?: string } = {},
  ): Promise<GatewayClient> {
    const ws = new WebSocket(
      `${baseUrl.replace(/^http/, 'ws')}/gateway`,
      opts.origin ? { origin: opts.origin } : {},
    );
    const client = new GatewayClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      ws.once('error', reject);
    });
    const hello = await client.waitFor((f) => f.op === 'HELLO');
    client.heartbeatInterval = hello.d.heartbeatInterval as number;
    if (opts.heartbeat !== false) {
      client.timer = setInterval(
        () => client.send({ op: 'HEARTBEAT', d: { seq: client.lastSeq } }),
        client.heartbeatInterval / 2,
      );
    }
    return client;
  }

  get lastSeq(): number {
    let s = 0;
    for (const f of this.frames) if (typeof f.s === 'number') s = Math.max(s, f.s);
    return s;
  }

  dispatches(t?: string): Frame[] {
    return this.frames.filter((f) => f.op === 'DISPATCH' && (t === undefined || f.t === t));
  }

  send(frame: unknown): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  sendRaw(data: string | Buffer, binary = false): void {
    this.ws.send(data, { binary });
  }

  async identify(token: string): Promise<Frame> {
    this.send({ op: 'IDENTIFY', d: { token } });
    return this.waitFor((f) => f.t === 'READY');
  }

  stopHeartbeat(): void {
    if (this.timer) clearInterval(this.timer);
  }

  async waitFor(pred: (f: Frame) => boolean, timeoutMs = 10_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const f = this.frames.find(pred);
      if (f) return f;
      if (Date.now() > deadline)
        throw new Error(
          `frame not received within ${timeoutMs} ms; got ${JSON.stringify(this.frames).slice(-2000)}`,
        );
      if (this.close)
        throw new Error(`socket closed ${this.close.code} ${this.close.reason} before the frame came`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async waitForCount(t: string, n: number, timeoutMs = 10_000): Promise<Frame[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.dispatches(t).length < n) {
      if (Date.now() > deadline)
        throw new Error(`only ${this.dispatches(t).length}/${n} ${t} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return this.dispatches(t);
  }

  async waitClosed(timeoutMs = 10_000): Promise<{ code: number; reason: string }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`socket still open after ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([this.closed, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  terminate(): void {
    this.stopHeartbeat();
    this.ws.terminate();
  }

  end(): void {
    this.stopHeartbeat();
    this.ws.close(1000);
  }
}

/** Every DISPATCH `s` from 1 up without gaps or repeats. */
export function expectContiguous(frames: Frame[]): void {
  const seqs = frames.filter((f) => f.op === 'DISPATCH').map((f) => f.s);
  expect(seqs).toEqual(seqs.map((_, i) => i + 1));
}
