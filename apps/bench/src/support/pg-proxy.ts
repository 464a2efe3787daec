import { createServer, connect, type Server, type Socket } from 'node:net';

/** Protocol codes of the untyped messages a client may send before its StartupMessage. */
const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;

/**
 * Counts the statements a client sends in the Postgres wire protocol: one per simple `Query`
 * ('Q') and one per extended-protocol `Execute` ('E'). Fed the client-to-server byte stream in
 * any chunking; the stream itself is passed on untouched by the caller.
 */
export class StatementCounter {
  statements = 0;
  private buf: Buffer = Buffer.alloc(0);
  private startupDone = false;

  feed(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      if (!this.startupDone) {
        // Untyped: Int32 length (including itself), Int32 code, payload.
        if (this.buf.length < 8) return;
        const len = this.buf.readInt32BE(0);
        if (this.buf.length < len) return;
        const code = this.buf.readInt32BE(4);
        // SSL/GSS requests are answered by the server before the real StartupMessage follows.
        if (code !== SSL_REQUEST && code !== GSSENC_REQUEST && code !== CANCEL_REQUEST)
          this.startupDone = true;
        this.buf = this.buf.subarray(len);
        continue;
      }
      // Typed: Byte1 type, Int32 length (including itself, not the type byte), payload.
      if (this.buf.length < 5) return;
      const len = this.buf.readInt32BE(1);
      if (this.buf.length < len + 1) return;
      const type = String.fromCharCode(this.buf[0]!);
      if (type === 'Q' || type === 'E') this.statements++;
      this.buf = this.buf.subarray(len + 1);
    }
  }
}

/** A loopback TCP proxy in front of Postgres that counts the statements passing through it. */
export interface CountingPgProxy {
  /** Any URL of that Postgres (any database) with host and port replaced by the proxy's. */
  via: (url: string) => string;
  statements: () => number;
  close: () => Promise<void>;
}

/** Listens on a free loopback port and forwards every connection to the Postgres of `databaseUrl`. */
export async function startCountingPgProxy(databaseUrl: string): Promise<CountingPgProxy> {
  const target = new URL(databaseUrl);
  const counters: StatementCounter[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const counter = new StatementCounter();
    counters.push(counter);
    const upstream = connect(Number(target.port || 5432), target.hostname);
    sockets.add(client).add(upstream);
    client.on('data', (d: Buffer) => {
      counter.feed(d);
      if (!upstream.write(d)) client.pause();
    });
    upstream.on('drain', () => client.resume());
    upstream.pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = String(typeof address === 'object' && address ? address.port : 0);
  return {
    via: (u) => {
      const url = new URL(u);
      url.hostname = '127.0.0.1';
      url.port = port;
      return url.toString();
    },
    statements: () => counters.reduce((a, c) => a + c.statements, 0),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
