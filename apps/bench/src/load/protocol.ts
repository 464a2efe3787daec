import type { HistogramData } from '../support/stats';

/** What the orchestrator asks a load process to do, and what comes back (over the fork IPC channel). */
export interface ClosedLoopResult {
  histogram: HistogramData;
  /** Requests completed inside the measured window. */
  completed: number;
  /** Non-2xx answers or thrown errors inside the measured window, by status (or "error"). */
  failures: Record<string, number>;
  firstFailure?: string;
  windowMs: number;
  /** CPU seconds this load process used during the measured window. */
  cpuSeconds: number;
}

export interface HttpLoadTask {
  kind: 'http';
  baseUrl: string;
  /** Several replicas: client i talks to baseUrls[i % length] instead of `baseUrl`. */
  baseUrls?: string[];
  mode: 'post' | 'history';
  /** Client i uses channelIds[i % length]. */
  channelIds: string[];
  /** One bearer token per concurrent client; each client has its own keep-alive agent. */
  tokens: string[];
  contentLength: number;
  history?: { minId: string; maxId: string; limit: number };
  /** Open loop at this many requests/s (this process's share) instead of closed loops. */
  rate?: number;
  warmupMs: number;
  durationMs: number;
}

export interface PgLoadTask {
  kind: 'pg';
  databaseUrl: string;
  mode: 'post' | 'history';
  poolSize: number;
  concurrency: number;
  /** Client i writes to channelIds[i % length] as authorIds[i % length] (history reads channelIds[0]). */
  channelIds: string[];
  authorIds: string[];
  /** Post mode: take the channel's advisory lock like the server does (default true). */
  lock?: boolean;
  contentLength: number;
  /**
   * History mode: random `before` cursors in [minId, maxId], pages read as `viewerId`; `render`
   * says whether Postgres renders the page's JSON or Node does from rows (history-sql.ts).
   */
  history?: { minId: string; maxId: string; limit: number; viewerId: string; render: 'json' | 'rows' };
  /** Open loop at this many operations/s (this process's share) instead of closed loops. */
  rate?: number;
  warmupMs: number;
  durationMs: number;
}

/** Open-loop poster for fanout: `rate` posts per second whatever the answers, bounded in flight. */
export interface RatePostTask {
  kind: 'rate-post';
  /** REST base url (server) or raw ws server url; posts go to `${baseUrl}${path}`. */
  baseUrl: string;
  path: string;
  token?: string;
  rate: number;
  durationMs: number;
  contentLength: number;
  maxInFlight: number;
  /** First sequence number to embed, so every post of a run is distinct. */
  firstSeq: number;
}

export interface RatePostResult {
  sent: number;
  ok: number;
  failures: Record<string, number>;
  firstFailure?: string;
  /** Sequence numbers of the posts that succeeded (recipients are expected for these only). */
  okSeqs: number[];
  /** POST latency (send to answer, ms) of each successful post, by sequence number. */
  postLatencyBySeq: Record<number, number>;
  postLatency: HistogramData;
  cpuSeconds: number;
  windowMs: number;
}

/** Our gateway protocol, the raw `ws` baseline, or socket.io-client against the Socket.IO baseline. */
export type SocketProtocol = 'cariosan' | 'raw' | 'socketio';

export interface GatewayHoldTask {
  kind: 'gateway-hold';
  /**
   * One URL per socket, in the order of `tokens`: ws://127.0.0.1:port/gateway (ours; tokens
   * identify), ws://.../member or /idle (raw), http://...?join=<channel> or http://.../ (socketio).
   */
  urls: string[];
  tokens: string[];
  protocol: SocketProtocol;
  /** Sockets opened at once; keeps the connect storm from timing out. */
  connectConcurrency: number;
}

export type Task = HttpLoadTask | PgLoadTask | RatePostTask | GatewayHoldTask;

export interface StepReport {
  /** Latency of every (message, recipient) pair received during the step, ms. */
  recipient: HistogramData;
  /** Per message sequence: [latest receive latency ms, recipients that got it] in this process. */
  perMessage: Record<number, [number, number]>;
  /** Every frame the sockets received during the step (bench messages and anything else). */
  frames: number;
  benchFrames: number;
  /** Bench frames of messages outside the step (late ones of an earlier step), not recorded. */
  stray: number;
  duplicates: number;
  closed: number;
  cpuSeconds: number;
  windowMs: number;
  /** Wall-clock ms of the last bench frame received in the step (0 when none). */
  lastReceiveWall: number;
}

export type ToWorker =
  | { type: 'run'; task: Task }
  /** Bench messages of the step are those with fromSeq <= seq < toSeq; others are counted as stray. */
  | { type: 'step-start'; fromSeq: number; toSeq: number }
  | { type: 'step-end' }
  | { type: 'count' }
  | { type: 'close' };

export type FromWorker =
  | { type: 'result'; result: ClosedLoopResult | RatePostResult }
  | { type: 'connected'; open: number; failed: number; firstFailure?: string; ms: number }
  | { type: 'step'; report: StepReport }
  | { type: 'count'; benchFrames: number }
  | { type: 'closed'; cpuSeconds: number }
  | { type: 'error'; message: string };

/** The marker a bench message's content starts with: `bench <seq> <send wall-clock ms>`. */
export const BENCH_MARK = 'bench ';

/** Wall-clock milliseconds with sub-ms precision, comparable across processes on one machine. */
export function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Content of exactly `length` code points carrying the sequence and send time. */
export function benchContent(seq: number, length: number): string {
  const head = `${BENCH_MARK}${seq} ${wallMs().toFixed(3)} `;
  return head.length >= length ? head.slice(0, length) : head + 'x'.repeat(length - head.length);
}
