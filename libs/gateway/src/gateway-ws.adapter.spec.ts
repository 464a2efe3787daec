import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { type CanActivate, type INestApplication, Injectable, Module, UseFilters } from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import {
  type OnGatewayConnection,
  type OnGatewayInit,
  SubscribeMessage,
  WebSocketGateway,
} from '@nestjs/websockets';
import WebSocket, { type WebSocketServer } from 'ws';
import { GatewayExceptionFilter } from './gateway-exception.filter';
import { gateUpgrades, GatewayWsAdapter, type UpgradeVerdict } from './gateway-ws.adapter';

/** The app's global guards are async; frames must still be answered in the order they came. */
@Injectable()
class SlowGuard implements CanActivate {
  async canActivate(): Promise<boolean> {
    await new Promise((resolve) => setImmediate(resolve));
    return true;
  }
}

@WebSocketGateway({ path: '/echo', maxPayload: 1024 })
@UseFilters(GatewayExceptionFilter)
class EchoGateway implements OnGatewayInit<WebSocketServer>, OnGatewayConnection<WebSocket> {
  verdict: UpgradeVerdict = { accept: true };

  afterInit(server: WebSocketServer): void {
    gateUpgrades(server, () => this.verdict);
  }

  handleConnection(ws: WebSocket): void {
    ws.send('{"op":"HELLO"}');
  }

  @SubscribeMessage('HEARTBEAT')
  heartbeat(ws: WebSocket, frame: { seq: number | null }): void {
    ws.send(JSON.stringify({ op: 'ACK', d: frame.seq }));
  }

  @SubscribeMessage('IDENTIFY')
  identify(ws: WebSocket, frame: { token: string }): void {
    if (frame.token === 'boom') throw new Error('a handler failed');
    ws.send(JSON.stringify({ op: 'ID', d: frame.token }));
  }
}

@Module({ providers: [EchoGateway, { provide: APP_GUARD, useClass: SlowGuard }] })
class EchoModule {}

const BUDGET = 6;

describe('GatewayWsAdapter (a real Nest app and real sockets)', () => {
  let app: INestApplication;
  let base: string;

  beforeAll(async () => {
    app = await NestFactory.create(EchoModule, { logger: false });
    app.useWebSocketAdapter(
      new GatewayWsAdapter(app, {
        frameBudget: () => {
          let frames = 0;
          return { consume: () => ++frames <= BUDGET };
        },
      }),
    );
    await app.listen(0, '127.0.0.1');
    base = `ws://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await app.close();
  });

  afterEach(() => {
    app.get(EchoGateway).verdict = { accept: true };
  });

  interface Peer {
    ws: WebSocket;
    got: string[];
    closed: Promise<number>;
  }

  async function open(path = '/echo'): Promise<Peer> {
    const ws = new WebSocket(base + path);
    const got: string[] = [];
    ws.on('message', (data) => got.push((data as Buffer).toString()));
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => reject(new Error(`status ${res.statusCode}`)));
      ws.once('error', reject);
    });
    return { ws, got, closed };
  }

  const ops = (p: Peer) => p.got.map((t) => JSON.parse(t) as { op: string; d?: unknown });

  it('hands decoded op/d frames to the @SubscribeMessage handlers, in order, behind async guards', async () => {
    const p = await open();
    for (let seq = 1; seq <= 4; seq++) p.ws.send(JSON.stringify({ op: 'HEARTBEAT', d: { seq } }));
    p.ws.send(JSON.stringify({ op: 'IDENTIFY', d: { token: 'abc' } }));
    await waitUntil(() => p.got.length === 6);
    expect(ops(p)).toEqual([
      { op: 'HELLO' },
      { op: 'ACK', d: 1 },
      { op: 'ACK', d: 2 },
      { op: 'ACK', d: 3 },
      { op: 'ACK', d: 4 },
      { op: 'ID', d: 'abc' },
    ]);
    p.ws.close();
  });

  it('answers every frame within the budget, then closes 4008', async () => {
    const p = await open();
    for (let seq = 1; seq <= BUDGET + 5; seq++) p.ws.send(JSON.stringify({ op: 'HEARTBEAT', d: { seq } }));
    expect(await p.closed).toBe(4008);
    expect(
      ops(p)
        .filter((f) => f.op === 'ACK')
        .map((f) => f.d),
    ).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it.each([
    ['bad JSON', '{"op":', false],
    ['a binary frame', '{"op":"HEARTBEAT"}', true],
    ['an unknown op', '{"op":"SHOUT","d":1}', false],
    ['a malformed IDENTIFY', '{"op":"IDENTIFY","d":{}}', false],
    [
      'an op this gateway has no handler for',
      '{"op":"RESUME","d":{"token":"t","sessionId":"s","seq":1}}',
      false,
    ],
  ])('closes 4002 on %s', async (_what, text, binary) => {
    const p = await open();
    p.ws.send(binary ? Buffer.from(text) : text);
    expect(await p.closed).toBe(4002);
  });

  it('closes 1009 on a frame over maxPayload', async () => {
    const p = await open();
    p.ws.send(JSON.stringify({ op: 'IDENTIFY', d: { token: 'x'.repeat(2000) } }));
    expect(await p.closed).toBe(1009);
  });

  it('closes 4000 when a handler throws, and keeps serving', async () => {
    const p = await open();
    p.ws.send(JSON.stringify({ op: 'IDENTIFY', d: { token: 'boom' } }));
    expect(await p.closed).toBe(4000);
    const q = await open();
    q.ws.send(JSON.stringify({ op: 'IDENTIFY', d: { token: 'fine' } }));
    await waitUntil(() => q.got.length === 2);
    expect(ops(q)[1]).toEqual({ op: 'ID', d: 'fine' });
    q.ws.close();
  });

  it('answers 404 on a path no gateway serves', async () => {
    await expect(open('/elsewhere')).rejects.toThrow('status 404');
  });

  it("refuses with the gate's status", async () => {
    app.get(EchoGateway).verdict = { accept: false, status: 403, text: 'Forbidden' };
    await expect(open()).rejects.toThrow('status 403');
  });

  it('drops the connection without an answer when the gate says so', async () => {
    app.get(EchoGateway).verdict = { accept: false, drop: true };
    await expect(open()).rejects.toThrow(/socket hang up|ECONNRESET/);
  });
});

async function waitUntil(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
