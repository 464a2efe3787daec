import WebSocket from 'ws';
import { io as socketIo } from 'socket.io-client';
import { Histogram } from '../support/stats';
import { BENCH_MARK, type GatewayHoldTask, type StepReport, wallMs } from './protocol';

const CONTENT_MARK = `"content":"${BENCH_MARK}`;
const CONNECT_TIMEOUT_MS = 20_000;

interface Held {
  close: () => void;
  seq: number;
  heartbeat?: NodeJS.Timeout;
  seen: Set<number>;
}

/**
 * Holds many gateway sockets in one load process and timestamps bench messages on arrival.
 * Bench frames are recognised by substring search instead of JSON.parse so that the load
 * process spends as little CPU per frame as possible (it shares the machine with the servers).
 */
export class GatewayHolder {
  private readonly held: Held[] = [];
  private recipient = new Histogram();
  private perMessage = new Map<number, [number, number]>();
  private frames = 0;
  private benchFrames = 0;
  private duplicates = 0;
  private stray = 0;
  private stepSeqs = { from: 0, to: Number.MAX_SAFE_INTEGER };
  private closed = 0;
  private stepCpu = process.cpuUsage();
  private stepT0 = performance.now();
  private lastReceiveWall = 0;

  constructor(private readonly task: GatewayHoldTask) {}

  async connect(): Promise<{ open: number; failed: number; firstFailure?: string; ms: number }> {
    const t0 = performance.now();
    let next = 0;
    let failed = 0;
    let firstFailure: string | undefined;
    const lane = async () => {
      while (next < this.task.urls.length) {
        const i = next++;
        try {
          this.held.push(await this.open(this.task.urls[i]!, this.task.tokens[i] ?? ''));
        } catch (err) {
          failed++;
          firstFailure ??= err instanceof Error ? err.message : String(err);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, this.task.connectConcurrency) }, lane));
    return { open: this.held.length, failed, firstFailure, ms: performance.now() - t0 };
  }

  private open(url: string, token: string): Promise<Held> {
    return this.task.protocol === 'socketio' ? this.openSocketIo(url) : this.openWs(url, token);
  }

  /**
   * A socket.io-client socket (WebSocket transport only, its own connection, no reconnection, so
   * a dropped socket counts as closed like the others). Members join their room with `?join=`.
   */
  private openSocketIo(url: string): Promise<Held> {
    return new Promise((resolve, reject) => {
      const socket = socketIo(url, {
        transports: ['websocket'],
        forceNew: true,
        reconnection: false,
        timeout: CONNECT_TIMEOUT_MS,
      });
      const h: Held = { close: () => socket.disconnect(), seq: 0, seen: new Set() };
      let ready = false;
      socket.once('connect', () => {
        ready = true;
        resolve(h);
      });
      socket.once('connect_error', (err) => {
        if (!ready) reject(err);
      });
      socket.on('disconnect', () => {
        if (ready) this.closed++;
      });
      // socket.io-client has parsed the frame already; the content string is all we need.
      socket.on('MESSAGE_CREATE', (m: { content?: string }) => {
        this.frames++;
        if (typeof m?.content === 'string' && m.content.startsWith(BENCH_MARK))
          this.recordBench(h, m.content, BENCH_MARK.length);
      });
    });
  }

  private openWs(url: string, token: string): Promise<Held> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      const h: Held = { close: () => ws.terminate(), seq: 0, seen: new Set() };
      let ready = false;
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error(`no READY within ${CONNECT_TIMEOUT_MS} ms`));
      }, CONNECT_TIMEOUT_MS);
      const becomeReady = () => {
        ready = true;
        clearTimeout(timer);
        resolve(h);
      };
      ws.on('error', (err) => {
        if (!ready) {
          clearTimeout(timer);
          reject(err);
        }
      });
      ws.on('close', (code, reason) => {
        if (h.heartbeat) clearInterval(h.heartbeat);
        if (ready) this.closed++;
        else {
          clearTimeout(timer);
          reject(new Error(`closed ${code} ${reason.toString()} before READY`));
        }
      });
      if (this.task.protocol === 'raw') ws.once('open', becomeReady);
      ws.on('message', (data: Buffer) => {
        this.frames++;
        const s = data.toString();
        if (this.onBenchFrame(h, s)) return;
        if (this.task.protocol === 'raw') return;
        let frame: { op?: string; t?: string; s?: number; d?: { heartbeatInterval?: number } };
        try {
          frame = JSON.parse(s) as typeof frame;
        } catch {
          return;
        }
        if (typeof frame.s === 'number') h.seq = frame.s;
        if (frame.op === 'HELLO') {
          const interval = frame.d?.heartbeatInterval ?? 30_000;
          ws.send(JSON.stringify({ op: 'IDENTIFY', d: { token } }));
          // Jittered so thousands of sockets do not beat in lockstep.
          h.heartbeat = setInterval(
            () => {
              if (ws.readyState === WebSocket.OPEN)
                ws.send(JSON.stringify({ op: 'HEARTBEAT', d: { seq: h.seq } }));
            },
            interval * (0.5 + Math.random() * 0.3),
          );
        } else if (frame.t === 'READY') {
          becomeReady();
        }
      });
    });
  }

  /** True when the frame was a bench message (recorded); cheap substring parsing only. */
  private onBenchFrame(h: Held, s: string): boolean {
    const at = s.indexOf(CONTENT_MARK);
    if (at < 0) return false;
    const sm = /"s":(\d+)/.exec(s);
    if (sm) h.seq = Number(sm[1]);
    this.recordBench(h, s, at + CONTENT_MARK.length);
    return true;
  }

  /** Records one bench message whose `<seq> <send wall-clock ms>` starts at `from` in `s`. */
  private recordBench(h: Held, s: string, from: number): void {
    const now = wallMs();
    const sp1 = s.indexOf(' ', from);
    const sp2 = s.indexOf(' ', sp1 + 1);
    const seq = Number(s.slice(from, sp1));
    const sentAt = Number(s.slice(sp1 + 1, sp2));
    if (!Number.isFinite(seq) || !Number.isFinite(sentAt)) return;
    if (seq < this.stepSeqs.from || seq >= this.stepSeqs.to) {
      this.stray++;
      return;
    }
    if (h.seen.has(seq)) {
      this.duplicates++;
      return;
    }
    h.seen.add(seq);
    this.benchFrames++;
    this.lastReceiveWall = now;
    const latency = now - sentAt;
    this.recipient.record(latency);
    const m = this.perMessage.get(seq);
    if (m) {
      m[0] = Math.max(m[0], latency);
      m[1]++;
    } else this.perMessage.set(seq, [latency, 1]);
  }

  stepStart(fromSeq: number, toSeq: number): void {
    this.stepSeqs = { from: fromSeq, to: toSeq };
    this.stray = 0;
    this.recipient = new Histogram();
    this.perMessage = new Map();
    this.frames = 0;
    this.benchFrames = 0;
    this.duplicates = 0;
    this.lastReceiveWall = 0;
    for (const h of this.held) h.seen.clear();
    this.stepCpu = process.cpuUsage();
    this.stepT0 = performance.now();
  }

  stepEnd(): StepReport {
    const cpu = process.cpuUsage(this.stepCpu);
    return {
      recipient: this.recipient.toJSON(),
      perMessage: Object.fromEntries(this.perMessage),
      frames: this.frames,
      benchFrames: this.benchFrames,
      stray: this.stray,
      duplicates: this.duplicates,
      closed: this.closed,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      windowMs: performance.now() - this.stepT0,
      lastReceiveWall: this.lastReceiveWall,
    };
  }

  benchFrameCount(): number {
    return this.benchFrames;
  }

  async close(): Promise<void> {
    for (const h of this.held) {
      if (h.heartbeat) clearInterval(h.heartbeat);
      h.close();
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
