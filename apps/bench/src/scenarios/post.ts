import type { Flags } from '../support/args';
import { withClient } from '../support/database';
import { machineLoad, printTable, ratio, writeResult, type Row } from '../support/report';
import { createChannel, insertUsers, api } from '../support/seed';
import { startStack } from '../support/stack';
import { failuresText, runClosedLoopPhase, shareOf, uptime } from './common';
import { POST_SQL, POST_UNLOCKED_SQL } from './sql';

/** The server's pool size (libs/core/src/database/data-source-options.ts); the baseline pool matches it. */
const SERVER_POOL_SIZE = 20;

/**
 * `post`: closed-loop POST /channels/:id/messages from `--clients` users for `--duration` s,
 * against the same transaction run with raw `pg` from the load process.
 */
export async function runPost(flags: Flags): Promise<void> {
  const durationMs = flags.num('duration', 15, 1, 600) * 1000;
  const warmupMs = flags.num('warmup', 3, 0, 60) * 1000;
  const clients = flags.num('clients', 64, 1, 1024);
  const channels = flags.num('channels', 1, 1, 1024);
  const contentLength = flags.num('content-length', 120, 40, 4000);
  const procs = flags.num('load-procs', 1, 1, 8);
  const poolSize = flags.num('pool', SERVER_POOL_SIZE, 1, 200);
  const baselineLock = flags.bool('baseline-lock', true);
  flags.assertAllUsed();

  const before = uptime();
  process.stdout.write(
    `post: ${clients} clients, ${channels} channel(s), ${contentLength}-char messages, ${durationMs / 1000}s (+${warmupMs / 1000}s warmup)\n${before}\n`,
  );
  const stack = await startStack(1);
  try {
    const server = stack.servers[0]!;
    const users = await withClient(stack.db.url, (db) => insertUsers(db, clients, 'bench'));
    // One channel: everybody posts to it (the hot-channel case: writes of one channel are
    // serialised by its advisory lock). N channels: user i posts to channel i % N.
    const channelIds: string[] = [];
    for (let c = 0; c < channels; c++)
      channelIds.push(await createChannel(server.url, users[c % users.length]!, `bench-${c}`));
    for (let i = 0; i < users.length; i++) {
      const ch = channelIds[i % channels]!;
      if (i >= channels) await api(server.url, users[i]!.token, 'PUT', `/api/v1/channels/${ch}/members/@me`);
    }
    await withClient(stack.db.url, (db) => db.query('CHECKPOINT'));

    process.stdout.write(`server phase...\n`);
    const srv = await runClosedLoopPhase(
      procs,
      (k) => ({
        kind: 'http',
        baseUrl: server.url,
        mode: 'post',
        tokens: shareOf(users, k, procs).map((u) => u.token),
        channelIds: shareOf(
          users.map((_, i) => channelIds[i % channels]!),
          k,
          procs,
        ),
        contentLength,
        warmupMs,
        durationMs,
      }),
      warmupMs,
      durationMs,
      [server.pid],
      stack.db.url,
    );
    const stored = await withClient(stack.db.url, async (db) => {
      const { rows } = await db.query<{ n: string }>('SELECT count(*)::text AS n FROM messages');
      return Number(rows[0]!.n);
    });
    // The baseline runs with the server stopped, so it has the machine to itself like the server had.
    await stack.stopServers();
    await withClient(stack.db.url, (db) => db.query('CHECKPOINT'));

    process.stdout.write(`raw pg baseline phase...\n`);
    const raw = await runClosedLoopPhase(
      procs,
      (k) => ({
        kind: 'pg',
        databaseUrl: stack.db.url,
        mode: 'post',
        poolSize: Math.max(1, Math.round(poolSize / procs)),
        concurrency: shareOf(users, k, procs).length,
        channelIds: shareOf(
          users.map((_, i) => channelIds[i % channels]!),
          k,
          procs,
        ),
        authorIds: shareOf(users, k, procs).map((u) => u.id),
        lock: baselineLock,
        contentLength,
        warmupMs,
        durationMs,
      }),
      warmupMs,
      durationMs,
      [],
      stack.db.url,
    );
    const after = uptime();

    const s = srv.histogram.summary();
    const b = raw.histogram.summary();
    const rows: Row[] = [
      {
        metric: 'throughput (msg/s)',
        value: srv.perSecond,
        baseline: raw.perSecond,
        ratio: ratio(srv.perSecond, raw.perSecond),
        target: '>= 2,500 and >= 0.6x raw',
      },
      { metric: 'latency p50 (ms)', value: s.p50, baseline: b.p50, ratio: ratio(s.p50, b.p50) },
      { metric: 'latency p90 (ms)', value: s.p90, baseline: b.p90, ratio: ratio(s.p90, b.p90) },
      { metric: 'latency p99 (ms)', value: s.p99, baseline: b.p99, ratio: ratio(s.p99, b.p99) },
      { metric: 'latency max (ms)', value: s.max, baseline: b.max, ratio: ratio(s.max, b.max) },
      {
        metric: 'completed in window',
        value: srv.completed,
        baseline: raw.completed,
        note: `server rows stored: ${stored}`,
      },
      { metric: 'failures', value: failuresText(srv.failures), baseline: failuresText(raw.failures) },
      {
        metric: 'load-gen CPU (s)',
        value: srv.loadCpuSeconds,
        baseline: raw.loadCpuSeconds,
        note: `over ${durationMs / 1000}s window; ${procs} load process(es)`,
      },
      {
        metric: 'Postgres CPU (cores)',
        value: srv.postgresCpuSeconds / (durationMs / 1000),
        baseline: raw.postgresCpuSeconds / (durationMs / 1000),
        ratio: ratio(srv.postgresCpuSeconds, raw.postgresCpuSeconds),
        note: 'backends of the bench database, from /proc',
      },
      {
        metric: 'server CPU (cores)',
        value: srv.watchedCpuSeconds / (durationMs / 1000),
        note: 'the server process(es) only',
      },
      {
        metric: 'server CPU per msg (ms)',
        value: (srv.watchedCpuSeconds * 1000) / srv.completed,
        note: 'server process CPU time / completed requests',
      },
    ];
    const table = printTable(
      `post: ${clients} clients, ${channels} channel(s), pool ${poolSize}, baseline ${baselineLock ? 'with' : 'without'} channel lock, load avg ${machineLoad()}`,
      rows,
    );
    if (srv.firstFailure) process.stdout.write(`first server failure: ${srv.firstFailure}\n`);
    if (raw.firstFailure) process.stdout.write(`first baseline failure: ${raw.firstFailure}\n`);
    writeResult('post', {
      scenario: 'post',
      at: new Date().toISOString(),
      params: {
        durationMs,
        warmupMs,
        clients,
        channels,
        contentLength,
        loadProcs: procs,
        poolSize,
        baselineLock,
      },
      uptimeBefore: before,
      uptimeAfter: after,
      baselineSql: [baselineLock ? POST_SQL : POST_UNLOCKED_SQL],
      server: { ...srv, histogram: s, storedMessages: stored },
      baseline: { ...raw, histogram: b },
      ratios: { throughput: srv.perSecond / raw.perSecond, p50: s.p50 / b.p50, p99: s.p99 / b.p99 },
      table,
    });
  } finally {
    await stack.close();
  }
}
