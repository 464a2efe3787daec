import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Flags } from '../support/args';
import { withClient } from '../support/database';
import { fmt, machineLoad, printTable, ratio, writeResult, type Row } from '../support/report';
import { createChannel, insertMembers, insertUsers, type SeededUser } from '../support/seed';
import { procCpuSeconds, rssKb, sleep, startRawWsServer, type ServerProcess } from '../support/processes';
import { startStack, type Stack } from '../support/stack';
import { Histogram } from '../support/stats';
import { LoadWorker } from '../support/workers';
import type { StepReport } from '../load/protocol';
import { uptime } from './common';

interface FanoutParams {
  idle: number;
  members: number;
  replicas: number;
  rates: number[];
  stepMs: number;
  contentLength: number;
  socketProcs: number;
  maxDrainMs: number;
}

interface StepResult {
  rate: number;
  posted: number;
  postFailures: Record<string, number>;
  firstPostFailure?: string;
  postP50: number;
  postP99: number;
  expected: number;
  delivered: number;
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
  loadCpuSeconds: number;
  closedSockets: number;
}

interface SideResult {
  label: string;
  rssBeforeKb: number;
  rssAfterIdleKb: number;
  /** RSS growth per socket between the first fifth of the idle sockets and all of them. */
  rssSlopeKb: number;
  rssPerIdleSocketKb: number;
  connect: { open: number; failed: number; firstFailure?: string; seconds: number };
  steps: StepResult[];
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

function ulimitN(): string {
  try {
    return execFileSync('sh', ['-c', 'ulimit -n']).toString().trim();
  } catch {
    return 'unknown';
  }
}

interface Target {
  label: string;
  /** Processes whose RSS and CPU count as "the server". */
  pids: () => number[];
  metricsUrls: string[];
  idleUrl: (i: number) => string;
  memberUrl: (i: number) => string;
  protocol: 'cariosan' | 'raw';
  post: { baseUrl: string; path: string; token?: string };
}

async function connectAll(
  holders: LoadWorker[],
  urls: string[],
  tokens: string[],
  protocol: 'cariosan' | 'raw',
) {
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

/** Holds the sockets, ramps the post rate, and collects one StepResult per rate. */
async function measure(
  t: Target,
  p: FanoutParams,
  idleUsers: SeededUser[],
  memberUsers: SeededUser[],
): Promise<SideResult> {
  const holders = Array.from({ length: p.socketProcs }, (_, i) => new LoadWorker(`sockets-${t.label}-${i}`));
  const sumRss = () => t.pids().reduce((a, pid) => a + rssKb(pid), 0);
  const sumCpu = () => t.pids().reduce((a, pid) => a + procCpuSeconds(pid), 0);
  try {
    await sleep(2000);
    const rssBeforeKb = sumRss();
    process.stdout.write(`[${t.label}] connecting ${p.idle} idle sockets...\n`);
    // In two batches (first fifth, then the rest) so the slope between them, free of one-off
    // costs such as code warming up on the first connections, can be reported beside the mean.
    const firstBatch = Math.floor(idleUsers.length / 5);
    const connectIdle = (from: number, to: number) =>
      connectAll(
        holders,
        idleUsers.slice(from, to).map((_, i) => t.idleUrl(from + i)),
        idleUsers.slice(from, to).map((u) => u.token),
        t.protocol,
      );
    const idleA = await connectIdle(0, firstBatch);
    await sleep(2000);
    const rssFirstBatchKb = sumRss();
    const idleB = await connectIdle(firstBatch, idleUsers.length);
    const idle = {
      open: idleA.open + idleB.open,
      failed: idleA.failed + idleB.failed,
      firstFailure: idleA.firstFailure ?? idleB.firstFailure,
      seconds: idleA.seconds + idleB.seconds,
    };
    await sleep(3000);
    const rssAfterIdleKb = sumRss();
    process.stdout.write(
      `[${t.label}] idle: ${idle.open} open, ${idle.failed} failed in ${idle.seconds.toFixed(1)}s; connecting ${p.members} member sockets...\n`,
    );
    const member = await connectAll(
      holders,
      memberUsers.map((_, i) => t.memberUrl(i)),
      memberUsers.map((u) => u.token),
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
      for (const url of t.metricsUrls) await eventLoopP99Ms(url); // resets prom-client's lag histogram
      holders.forEach((h) => h.stepStart());
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
        firstSeq: seq,
      });
      const posterCpu = await poster.close();
      seq += Math.round((rate * p.stepMs) / 1000) + 1;
      // Wait for deliveries to finish: every expected frame, or no progress for 2 s, or the cap.
      const expected = posted.ok * member.open;
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
      for (const [seq, [lat, n]] of perMessage) {
        if (n < member.open) continue;
        all.record(lat);
        const post = posted.postLatencyBySeq[seq];
        if (post !== undefined) afterAnswer.record(Math.max(0, lat - post));
      }
      const delivered = reports.reduce((a, r) => a + r.benchFrames, 0);
      const lastWall = Math.max(...reports.map((r) => r.lastReceiveWall));
      const spanS = lastWall > stepStartWall ? (lastWall - stepStartWall) / 1000 : NaN;
      const postHist = Histogram.from(posted.postLatency);
      const step: StepResult = {
        rate,
        posted: posted.ok,
        postFailures: posted.failures,
        firstPostFailure: posted.firstFailure,
        postP50: postHist.percentile(50),
        postP99: postHist.percentile(99),
        expected,
        delivered,
        duplicates: reports.reduce((a, r) => a + r.duplicates, 0),
        recipientP50: recipient.percentile(50),
        recipientP99: recipient.percentile(99),
        allP50: all.percentile(50),
        allP99: all.percentile(99),
        allAfterAnswerP50: afterAnswer.percentile(50),
        allAfterAnswerP99: afterAnswer.percentile(99),
        framesPerSecond: delivered / spanS,
        eventLoopP99Ms: lagMs,
        serverCpuCores: (cpu1 - cpu0) / ((Date.now() - stepStartWall) / 1000),
        loadCpuSeconds: reports.reduce((a, r) => a + r.cpuSeconds, 0) + posterCpu,
        closedSockets: reports.reduce((a, r) => a + r.closed, 0),
      };
      steps.push(step);
      process.stdout.write(
        `[${t.label}] ${rate} msg/s: delivered ${delivered}/${expected}, recipient p50 ${fmt(step.recipientP50)} p99 ${fmt(step.recipientP99)} ms, ` +
          `${fmt(step.framesPerSecond)} frames/s, loop p99 ${fmt(lagMs)} ms, post failures ${JSON.stringify(posted.failures)}\n`,
      );
      if (posted.firstFailure)
        process.stdout.write(`[${t.label}]   first post failure: ${posted.firstFailure}\n`);
    }
    return {
      label: t.label,
      rssBeforeKb,
      rssAfterIdleKb,
      rssPerIdleSocketKb: (rssAfterIdleKb - rssBeforeKb) / Math.max(1, idle.open),
      rssSlopeKb: (rssAfterIdleKb - rssFirstBatchKb) / Math.max(1, idleB.open),
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

/**
 * `fanout`: idle gateway sockets plus one big channel spread over replicas sharing Redis,
 * posts at rising rates, latency from POST to every recipient; the same against a raw `ws`
 * broadcast server.
 */
export async function runFanout(flags: Flags): Promise<void> {
  const p: FanoutParams = {
    idle: flags.num('idle', 5000, 0, 50_000),
    members: flags.num('members', 1000, 1, 50_000),
    replicas: flags.num('replicas', 2, 1, 8),
    rates: flags.nums('rates', [20, 50, 100, 200], 1, 5000),
    stepMs: flags.num('step', 10, 1, 600) * 1000,
    contentLength: flags.num('content-length', 120, 40, 4000),
    socketProcs: flags.num('socket-procs', 2, 1, 16),
    maxDrainMs: flags.num('max-drain', 20, 1, 300) * 1000,
  };
  const only = flags.bool('raw-only', false) ? 'raw' : flags.bool('server-only', false) ? 'server' : 'both';
  flags.assertAllUsed();

  const before = uptime();
  const fdLimit = ulimitN();
  process.stdout.write(
    `fanout: ${p.idle} idle + ${p.members} member sockets over ${p.replicas} replica(s), rates ${p.rates.join(',')} msg/s x ${p.stepMs / 1000}s, ` +
      `${p.socketProcs} socket process(es), ulimit -n ${fdLimit}\n${before}\n`,
  );
  const gatewayBuilt = existsSync(resolve(__dirname, '../../../../libs/gateway/src/gateway.module.js'));
  let server: SideResult | undefined;
  let raw: SideResult | undefined;

  if (only !== 'raw') {
    if (!gatewayBuilt)
      process.stdout.write(
        'note: dist/libs/gateway/src/gateway.module.js not found; the server half will probably fail\n',
      );
    let stack: Stack | undefined;
    try {
      stack = await startStack(p.replicas);
      const st = stack;
      const { members, idle } = await withClient(st.db.url, async (db) => ({
        members: await insertUsers(db, p.members, 'member'),
        idle: await insertUsers(db, p.idle, 'idle'),
      }));
      const poster = members[0]!;
      const channelId = await createChannel(st.servers[0]!.url, poster, 'fanout');
      await withClient(st.db.url, (db) =>
        insertMembers(
          db,
          channelId,
          members.map((m) => m.id),
        ),
      );
      const wsUrl = (i: number) => `ws://127.0.0.1:${st.servers[i % st.servers.length]!.port}/gateway`;
      server = await measure(
        {
          label: 'server',
          pids: () => st.servers.map((s) => s.pid),
          metricsUrls: st.servers.map((s) => s.url),
          idleUrl: wsUrl,
          memberUrl: wsUrl,
          protocol: 'cariosan',
          post: {
            baseUrl: st.servers[0]!.url,
            path: `/api/v1/channels/${channelId}/messages`,
            token: poster.token,
          },
        },
        p,
        idle,
        members,
      );
    } finally {
      await stack?.close();
    }
  }

  if (only !== 'server') {
    let rawServer: ServerProcess | undefined;
    try {
      rawServer = await startRawWsServer();
      const rs = rawServer;
      const wsBase = `ws://127.0.0.1:${rs.port}`;
      const fake = (n: number): SeededUser[] =>
        Array.from({ length: n }, (_, i) => ({ id: String(i), username: `u${i}`, token: '' }));
      raw = await measure(
        {
          label: 'raw-ws',
          pids: () => [rs.pid],
          metricsUrls: [rs.url],
          idleUrl: () => `${wsBase}/idle`,
          memberUrl: () => `${wsBase}/member`,
          protocol: 'raw',
          post: { baseUrl: rs.url, path: '/publish' },
        },
        p,
        fake(p.idle),
        fake(p.members),
      );
    } finally {
      await rawServer?.stop();
    }
  }
  const after = uptime();

  const rows: Row[] = [];
  const s = server;
  const r = raw;
  rows.push({
    metric: 'RSS per idle socket (KiB)',
    value: s?.rssPerIdleSocketKb,
    baseline: r?.rssPerIdleSocketKb,
    ratio: s && r ? ratio(s.rssPerIdleSocketKb, r.rssPerIdleSocketKb) : undefined,
    target: '<= 20 KB',
    note: s
      ? `server RSS ${fmt(s.rssBeforeKb / 1024)} -> ${fmt(s.rssAfterIdleKb / 1024)} MiB (all replicas)`
      : undefined,
  });
  rows.push({
    metric: 'RSS slope, last 80% (KiB)',
    value: s?.rssSlopeKb,
    baseline: r?.rssSlopeKb,
    ratio: s && r ? ratio(s.rssSlopeKb, r.rssSlopeKb) : undefined,
    note: 'per idle socket, between 20% and 100% connected',
  });
  rows.push({
    metric: 'sockets open / failed',
    value: s ? `${s.connect.open}/${s.connect.failed}` : undefined,
    baseline: r ? `${r.connect.open}/${r.connect.failed}` : undefined,
  });
  p.rates.forEach((rate, i) => {
    const a = s?.steps[i];
    const b = r?.steps[i];
    const both = <T extends number>(f: (x: StepResult) => T) => ({
      value: a ? f(a) : undefined,
      baseline: b ? f(b) : undefined,
      ratio: a && b ? ratio(f(a), f(b)) : undefined,
    });
    rows.push({ metric: `@${rate}/s recipient p50 (ms)`, ...both((x) => x.recipientP50) });
    rows.push({
      metric: `@${rate}/s recipient p99 (ms)`,
      ...both((x) => x.recipientP99),
      target: rate === p.rates[0] ? '<= 25 ms' : undefined,
    });
    rows.push({
      metric: `@${rate}/s all-members p99 (ms)`,
      ...both((x) => x.allP99),
      note: 'per message, until the last member had it',
    });
    rows.push({
      metric: `@${rate}/s last member after answer p99 (ms)`,
      ...both((x) => x.allAfterAnswerP99),
      note: 'same, minus the POST latency: fanout path only',
    });
    rows.push({ metric: `@${rate}/s frames/s`, ...both((x) => x.framesPerSecond), target: '>= 0.8x raw' });
    rows.push({
      metric: `@${rate}/s delivered`,
      value: a ? `${a.delivered}/${a.expected}` : undefined,
      baseline: b ? `${b.delivered}/${b.expected}` : undefined,
      note: a ? `${a.duplicates} duplicates, ${a.closedSockets} sockets closed so far` : undefined,
    });
    rows.push({ metric: `@${rate}/s POST p99 (ms)`, ...both((x) => x.postP99) });
    rows.push({
      metric: `@${rate}/s event-loop p99 (ms)`,
      ...both((x) => x.eventLoopP99Ms),
      note: 'max over replicas',
    });
    rows.push({ metric: `@${rate}/s server CPU (cores)`, ...both((x) => x.serverCpuCores) });
    rows.push({ metric: `@${rate}/s load-gen CPU (s)`, ...both((x) => x.loadCpuSeconds) });
  });
  const table = printTable(
    `fanout: ${p.idle} idle + ${p.members} members, ${p.replicas} replica(s) vs 1 raw ws process, ${p.stepMs / 1000}s steps, load avg ${machineLoad()}`,
    rows,
  );
  writeResult('fanout', {
    scenario: 'fanout',
    at: new Date().toISOString(),
    params: p,
    ulimitN: fdLimit,
    uptimeBefore: before,
    uptimeAfter: after,
    server,
    baseline: raw,
    table,
  });
}
