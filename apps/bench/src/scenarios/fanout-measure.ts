import { fmt } from '../support/report';
import { forceGc } from '../support/inspector';
import { procCpuSeconds, rssKb, sleep, type ServerProcess } from '../support/processes';
import { commandStatsDelta, totalCalls, type CommandStats, type RedisMeter } from '../support/redis';
import { Histogram } from '../support/stats';
import { LoadWorker } from '../support/workers';
import type { SocketProtocol, StepReport } from '../load/protocol';

export interface FanoutParams {
  idle: number;
  members: number;
  replicas: number;
  sioReplicas: number;
  /** Pool connections per replica of our server, and of each Socket.IO replica. */
  pool: number;
  sioPool: number;
  rates: number[];
  stepMs: number;
  contentLength: number;
  socketProcs: number;
  maxDrainMs: number;
  forceGc: boolean;
}

export interface StepResult {
  rate: number;
  posted: number;
  postFailures: Record<string, number>;
  firstPostFailure?: string;
  postP50: number;
  postP99: number;
  expected: number;
  /** Frames of this step's messages whose POST answered 2xx (at most `expected`). */
  delivered: number;
  /** Frames of this step's messages whose POST got no 2xx (timed out, yet committed and sent). */
  unansweredFrames: number;
  /** Frames of an earlier step's messages that arrived during this one (not counted). */
  strayFrames: number;
  duplicates: number;
  recipientP50: number;
  recipientP99: number;
  /** Time until the last member got the message, per message. */
  allP50: number;
  allP99: number;
  /** Per message, last member's receive time minus the POST's answer time. */
  allAfterAnswerP50: number;
  allAfterAnswerP99: number;
  framesPerSecond: number;
  eventLoopP99Ms: number;
  serverCpuCores: number;
  /** Server processes' CPU over the step (posting, fanout, drain) per delivered bench frame. */
  serverCpuPerFrameUs: number;
  /** Redis commands over the step per delivered bench frame (INFO commandstats deltas). */
  redisCommandsPerFrame: number;
  /** The Redis server's CPU over the step per delivered frame (only when the run owns that Redis). */
  redisCpuPerFrameUs: number;
  /** Commands of the step by name, most first. */
  redisCommands: Record<string, number>;
  loadCpuSeconds: number;
  closedSockets: number;
}

export interface SideResult {
  label: string;
  /** Whether RSS was read after a forced full GC (over the inspector) or as it was. */
  gcForced: boolean;
  rssBeforeKb: number;
  rssAfterIdleKb: number;
  rssPerIdleSocketKb: number;
  /** RSS growth per socket between the first fifth of the idle sockets and all of them. */
  rssSlopeKb: number;
  /** V8 heap in use after GC, per idle socket (what the sockets' JS objects retain). */
  heapPerIdleSocketKb: number;
  connect: { open: number; failed: number; firstFailure?: string; seconds: number };
  steps: StepResult[];
}

/** What one side of the comparison is: its processes, where sockets connect and where posts go. */
export interface Target {
  label: string;
  /** The processes whose RSS and CPU count as "the server". */
  processes: () => ServerProcess[];
  metricsUrls: string[];
  idleUrl: (i: number) => string;
  memberUrl: (i: number) => string;
  protocol: SocketProtocol;
  /** False for the raw `ws` baseline: its Redis figures are 0 by construction, not measured noise. */
  usesRedis: boolean;
  post: { baseUrl: string; path: string; token?: string };
  /** Tokens (ours) or ignored values (baselines), one per socket. */
  idleTokens: string[];
  memberTokens: string[];
}

/** Prometheus text -> the largest `nodejs_eventloop_lag_p99_seconds` sample, in ms. */
async function eventLoopP99Ms(url: string): Promise<number> {
  try {
    const text = await (await fetch(`${url}/metrics`)).text();
    const m = /^nodejs_eventloop_lag_p99_seconds(?:\{[^}]*\})? ([0-9.eE+-]+)$/m.exec(text);
    return m ? Number(m[1]) * 1000 : NaN;
  } catch {
    return NaN;
  }
}

async function connectAll(holders: LoadWorker[], urls: string[], tokens: string[], protocol: SocketProtocol) {
  const t0 = Date.now();
  const procs = holders.length;
  const answers = await Promise.all(
    holders.map((h, k) =>
      h.holdSockets({
        kind: 'gateway-hold',
        urls: urls.filter((_, i) => i % procs === k),
        tokens: tokens.filter((_, i) => i % procs === k),
        protocol,
        connectConcurrency: 32,
      }),
    ),
  );
  return {
    open: answers.reduce((a, c) => a + c.open, 0),
    failed: answers.reduce((a, c) => a + c.failed, 0),
    firstFailure: answers.find((a) => a.firstFailure)?.firstFailure,
    seconds: (Date.now() - t0) / 1000,
  };
}

/**
 * Memory of the side's processes: with `gc`, first a full GC in each over the inspector, so the
 * figure is what live objects hold rather than whatever garbage the last connections left.
 */
async function memory(t: Target, gc: boolean): Promise<{ rssKb: number; heapKb: number }> {
  let heapKb = NaN;
  if (gc) {
    heapKb = 0;
    for (const s of t.processes()) {
      if (s.inspectPort === undefined) throw new Error(`${t.label}: started without the inspector`);
      heapKb += (await forceGc(s.inspectPort)).usedBytes / 1024;
    }
    // Give the allocator a moment to hand pages back before the kernel's count is read.
    await sleep(500);
  }
  return { rssKb: t.processes().reduce((a, s) => a + rssKb(s.pid), 0), heapKb };
}

function sortedCommands(stats: CommandStats): Record<string, number> {
  return Object.fromEntries([...stats].sort((a, b) => b[1].calls - a[1].calls).map(([k, v]) => [k, v.calls]));
}

/** Holds the sockets, ramps the post rate, and collects one StepResult per rate. */
export async function measure(t: Target, p: FanoutParams, redis: RedisMeter): Promise<SideResult> {
  const holders = Array.from({ length: p.socketProcs }, (_, i) => new LoadWorker(`sockets-${t.label}-${i}`));
  const sumCpu = () => t.processes().reduce((a, s) => a + procCpuSeconds(s.pid), 0);
  try {
    await sleep(2000);
    const before = await memory(t, p.forceGc);
    process.stdout.write(`[${t.label}] connecting ${p.idle} idle sockets...\n`);
    // In two batches (first fifth, then the rest) so the slope between them, free of one-off
    // costs such as code warming up on the first connections, can be reported beside the mean.
    const firstBatch = Math.floor(p.idle / 5);
    const connectIdle = (from: number, to: number) =>
      connectAll(
        holders,
        t.idleTokens.slice(from, to).map((_, i) => t.idleUrl(from + i)),
        t.idleTokens.slice(from, to),
        t.protocol,
      );
    const idleA = await connectIdle(0, firstBatch);
    await sleep(2000);
    const firstMem = await memory(t, p.forceGc);
    const idleB = await connectIdle(firstBatch, p.idle);
    const idle = {
      open: idleA.open + idleB.open,
      failed: idleA.failed + idleB.failed,
      firstFailure: idleA.firstFailure ?? idleB.firstFailure,
      seconds: idleA.seconds + idleB.seconds,
    };
    await sleep(3000);
    const after = await memory(t, p.forceGc);
    process.stdout.write(
      `[${t.label}] idle: ${idle.open} open, ${idle.failed} failed in ${idle.seconds.toFixed(1)}s; connecting ${p.members} member sockets...\n`,
    );
    const member = await connectAll(
      holders,
      t.memberTokens.map((_, i) => t.memberUrl(i)),
      t.memberTokens,
      t.protocol,
    );
    process.stdout.write(
      `[${t.label}] members: ${member.open} open, ${member.failed} failed in ${member.seconds.toFixed(1)}s\n`,
    );
    if (member.firstFailure ?? idle.firstFailure)
      process.stdout.write(
        `[${t.label}] first connect failure: ${member.firstFailure ?? idle.firstFailure}\n`,
      );
    await sleep(2000);

    // Warm-up (not recorded): JIT, connection pools and Redis subscriptions settle first.
    const warm = new LoadWorker(`warmup-${t.label}`);
    await warm.ratePost({
      kind: 'rate-post',
      ...t.post,
      rate: p.rates[0] ?? 20,
      durationMs: 2000,
      contentLength: p.contentLength,
      maxInFlight: 64,
      firstSeq: 1_000_000_000,
    });
    await warm.close();
    await sleep(1000);

    const steps: StepResult[] = [];
    let seq = 1;
    for (const rate of p.rates) {
      const step = await runStep(t, p, holders, member.open, rate, seq, sumCpu, redis);
      seq += Math.round((rate * p.stepMs) / 1000) + 1;
      steps.push(step);
    }
    return {
      label: t.label,
      gcForced: p.forceGc,
      rssBeforeKb: before.rssKb,
      rssAfterIdleKb: after.rssKb,
      rssPerIdleSocketKb: (after.rssKb - before.rssKb) / Math.max(1, idle.open),
      rssSlopeKb: (after.rssKb - firstMem.rssKb) / Math.max(1, idleB.open),
      heapPerIdleSocketKb: (after.heapKb - before.heapKb) / Math.max(1, idle.open),
      connect: {
        open: idle.open + member.open,
        failed: idle.failed + member.failed,
        firstFailure: idle.firstFailure ?? member.firstFailure,
        seconds: idle.seconds + member.seconds,
      },
      steps,
    };
  } finally {
    await Promise.all(holders.map((h) => h.close()));
  }
}

/** One rate: open-loop posts for the step, then the drain; every figure of the step. */
async function runStep(
  t: Target,
  p: FanoutParams,
  holders: LoadWorker[],
  members: number,
  rate: number,
  firstSeq: number,
  sumCpu: () => number,
  redis: RedisMeter,
): Promise<StepResult> {
  for (const url of t.metricsUrls) await eventLoopP99Ms(url); // resets the lag histograms
  // The poster sends round(rate * step) posts numbered from firstSeq: this step's messages.
  const lastSeq = firstSeq + Math.max(1, Math.round((rate * p.stepMs) / 1000));
  holders.forEach((h) => h.stepStart(firstSeq, lastSeq));
  const redis0 = await redis.read();
  const cpu0 = sumCpu();
  const stepStartWall = performance.timeOrigin + performance.now();
  const poster = new LoadWorker(`poster-${t.label}`);
  const posted = await poster.ratePost({
    kind: 'rate-post',
    ...t.post,
    rate,
    durationMs: p.stepMs,
    contentLength: p.contentLength,
    maxInFlight: 256,
    firstSeq,
  });
  const posterCpu = await poster.close();
  // Wait for deliveries to finish: every expected frame, or no progress for 2 s, or the cap.
  const expected = posted.ok * members;
  const drainUntil = Date.now() + p.maxDrainMs;
  let last = -1;
  let lastChange = Date.now();
  for (;;) {
    const n = (await Promise.all(holders.map((h) => h.benchFrames()))).reduce((a, b) => a + b, 0);
    if (n >= expected || Date.now() > drainUntil) break;
    if (n !== last) {
      last = n;
      lastChange = Date.now();
    } else if (Date.now() - lastChange > 2000) break;
    await sleep(250);
  }
  const cpu1 = sumCpu();
  const redis1 = await redis.read();
  const lagMs = Math.max(...(await Promise.all(t.metricsUrls.map(eventLoopP99Ms))));
  const reports: StepReport[] = await Promise.all(holders.map((h) => h.stepEnd()));
  const recipient = new Histogram();
  const perMessage = new Map<number, [number, number]>();
  for (const r of reports) {
    recipient.merge(r.recipient);
    for (const [k, [lat, n]] of Object.entries(r.perMessage)) {
      const m = perMessage.get(Number(k));
      if (m) {
        m[0] = Math.max(m[0], lat);
        m[1] += n;
      } else perMessage.set(Number(k), [lat, n]);
    }
  }
  // Only messages every member received count for "publish to every recipient".
  const all = new Histogram();
  // The same, counted from the POST's answer (commit) instead of its send: the fanout path
  // alone (outbox relay, Redis, gateway). Clamped at 0: an event may beat the HTTP answer.
  const afterAnswer = new Histogram();
  for (const [s, [lat, n]] of perMessage) {
    if (n < members) continue;
    all.record(lat);
    const post = posted.postLatencyBySeq[s];
    if (post !== undefined) afterAnswer.record(Math.max(0, lat - post));
  }
  const frames = reports.reduce((a, r) => a + r.benchFrames, 0);
  const answered = new Set(posted.okSeqs);
  let delivered = 0;
  for (const [s, [, n]] of perMessage) if (answered.has(s)) delivered += n;
  const lastWall = Math.max(...reports.map((r) => r.lastReceiveWall));
  const spanS = lastWall > stepStartWall ? (lastWall - stepStartWall) / 1000 : NaN;
  const postHist = Histogram.from(posted.postLatency);
  const commands = commandStatsDelta(redis0.stats, redis1.stats);
  const step: StepResult = {
    rate,
    posted: posted.ok,
    postFailures: posted.failures,
    firstPostFailure: posted.firstFailure,
    postP50: postHist.percentile(50),
    postP99: postHist.percentile(99),
    expected,
    delivered,
    unansweredFrames: frames - delivered,
    strayFrames: reports.reduce((a, r) => a + r.stray, 0),
    duplicates: reports.reduce((a, r) => a + r.duplicates, 0),
    recipientP50: recipient.percentile(50),
    recipientP99: recipient.percentile(99),
    allP50: all.percentile(50),
    allP99: all.percentile(99),
    allAfterAnswerP50: afterAnswer.percentile(50),
    allAfterAnswerP99: afterAnswer.percentile(99),
    // Every frame of the step's messages was delivered work, answered or not.
    framesPerSecond: frames / spanS,
    eventLoopP99Ms: lagMs,
    serverCpuCores: (cpu1 - cpu0) / ((Date.now() - stepStartWall) / 1000),
    serverCpuPerFrameUs: ((cpu1 - cpu0) * 1e6) / frames,
    redisCommandsPerFrame: t.usesRedis ? totalCalls(commands) / frames : 0,
    redisCpuPerFrameUs: t.usesRedis ? ((redis1.cpuSeconds - redis0.cpuSeconds) * 1e6) / frames : 0,
    redisCommands: sortedCommands(commands),
    loadCpuSeconds: reports.reduce((a, r) => a + r.cpuSeconds, 0) + posterCpu,
    closedSockets: reports.reduce((a, r) => a + r.closed, 0),
  };
  process.stdout.write(
    `[${t.label}] ${rate} msg/s: delivered ${delivered}/${expected}` +
      (step.unansweredFrames || step.strayFrames
        ? ` (+${step.unansweredFrames} of unanswered posts, ${step.strayFrames} late of the previous step)`
        : '') +
      `, recipient p50 ${fmt(step.recipientP50)} p99 ${fmt(step.recipientP99)} ms, ` +
      `${fmt(step.framesPerSecond)} frames/s, ${fmt(step.serverCpuPerFrameUs)} us CPU/frame, ${fmt(step.redisCommandsPerFrame, 3)} Redis cmds/frame, ` +
      `loop p99 ${fmt(lagMs)} ms, post failures ${JSON.stringify(posted.failures)}\n`,
  );
  if (posted.firstFailure)
    process.stdout.write(`[${t.label}]   first post failure: ${posted.firstFailure}\n`);
  return step;
}
