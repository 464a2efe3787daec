import { isDeepStrictEqual } from 'node:util';
import type { Client } from 'pg';
import type { Flags } from '../support/args';
import { withClient } from '../support/database';
import { machineLoad, printTable, ratio, writeResult, type Row } from '../support/report';
import { startBenchRedis } from '../support/redis';
import { api, createChannel, insertUsers } from '../support/seed';
import { startStack } from '../support/stack';
import { failuresText, runClosedLoopPhase, uptime, type MergedLoad } from './common';
import { judgePlan, type PlanNode } from './history-plan';
import { seedMessages } from './history-seed';
import {
  HISTORY_PAGE_JSON_SQL,
  HISTORY_PAGE_ROWS_SQL,
  renderHistoryRows,
  type HistoryRow,
} from './history-sql';

type Phase = MergedLoad & { watchedCpuSeconds: number; postgresCpuSeconds: number };
type Render = 'json' | 'rows';

/** The baseline's page for `before`, as the contract's JSON value (parsed, for comparison). */
async function baselinePage(
  db: Client,
  render: Render,
  params: [string, string, number, string],
): Promise<unknown> {
  if (render === 'json') {
    const { rows } = await db.query<{ member: boolean; page: string }>(HISTORY_PAGE_JSON_SQL, params);
    if (!rows[0]?.member) throw new Error('history baseline: the reader is not a member');
    return JSON.parse(rows[0].page);
  }
  const { rows } = await db.query<HistoryRow>(HISTORY_PAGE_ROWS_SQL, params);
  return JSON.parse(renderHistoryRows(rows));
}

/** Throws unless the baseline answers exactly what the server answers, so the ratio compares the same page. */
function assertSamePage(server: unknown[], baseline: unknown, render: Render): void {
  if (isDeepStrictEqual(server, baseline)) return;
  const b = Array.isArray(baseline) ? baseline : [];
  const i = server.findIndex((m, k) => !isDeepStrictEqual(m, b[k]));
  throw new Error(
    `the ${render} baseline's page differs from the server's (${server.length} vs ${b.length} messages); first difference at ${i}:\n` +
      `server:   ${JSON.stringify(server[i])}\nbaseline: ${JSON.stringify(b[i])}`,
  );
}

/**
 * `history`: random deep keyset pages of one big channel through REST, for each client count in
 * `--clients`, against the same pages read in one statement through `pg` (history-sql.ts).
 */
export async function runHistory(flags: Flags): Promise<void> {
  const durationMs = flags.num('duration', 15, 1, 600) * 1000;
  const warmupMs = flags.num('warmup', 3, 0, 60) * 1000;
  const clientCounts = flags.nums('clients', [32, 8], 1, 1024);
  const messages = flags.num('messages', 1_000_000, 100, 50_000_000);
  const limit = flags.num('limit', 50, 1, 100);
  const contentLength = flags.num('content-length', 100, 1, 4000);
  const reactionsEvery = flags.num('reactions-every', 10, 0, 1_000_000);
  const noiseChannels = flags.num('noise-channels', 1, 0, 9);
  const render = flags.choice('baseline', ['rows', 'json'] as const, 'rows');
  const procs = flags.num('load-procs', 1, 1, 8);
  const poolSize = flags.num('pool', 20, 1, 60);
  flags.assertAllUsed();

  const before = uptime();
  process.stdout.write(
    `history: ${messages} messages, clients ${clientCounts.join(' and ')}, limit ${limit}, ` +
      `${durationMs / 1000}s (+${warmupMs / 1000}s warmup) per phase\n${before}\n`,
  );
  const redis = await startBenchRedis();
  process.stdout.write(`redis: ${redis.note}\n`);
  const stack = await startStack(1, {
    redisUrl: redis.url,
    env: { CARIOS_DATABASE_POOL_SIZE: String(poolSize) },
  }).catch(async (err: unknown) => {
    await redis.stop();
    throw err;
  });
  try {
    const server = stack.servers[0]!;
    const [reader, other] = await withClient(stack.db.url, (db) => insertUsers(db, 2, 'reader'));
    const channelId = await createChannel(server.url, reader!, 'history');
    const noiseIds: string[] = [];
    for (let i = 0; i < noiseChannels; i++)
      noiseIds.push(await createChannel(server.url, other!, `noise-${i}`));
    const seedStart = Date.now();
    const seeded = await withClient(stack.db.url, async (db) => {
      const range = await seedMessages(db, channelId, noiseIds, reader!.id, messages, contentLength, {
        every: reactionsEvery,
        readerId: reader!.id,
        otherId: other!.id,
      });
      await db.query('VACUUM ANALYZE');
      await db.query('CHECKPOINT');
      return range;
    });
    const { minId, maxId } = seeded;
    const seedSeconds = (Date.now() - seedStart) / 1000;
    process.stdout.write(
      `seeded ${messages} messages and ${seeded.reactions} reactions in ${seedSeconds.toFixed(1)}s (ids ${minId}..${maxId})\n`,
    );

    // A deep cursor in the middle of the range, with the literal values a custom plan sees.
    const mid = ((BigInt(minId) + BigInt(maxId)) / 2n).toString();
    const params: [string, string, number, string] = [channelId, mid, limit, reader!.id];
    // Sanity: one page through REST is `limit` messages, newest first, all older than the cursor,
    // and both baseline renderings answer exactly the same page.
    const page = await api<{ id: string }[]>(
      server.url,
      reader!.token,
      'GET',
      `/api/v1/channels/${channelId}/messages?before=${mid}&limit=${limit}`,
    );
    const ordered = page.every(
      (m, i) => BigInt(m.id) < BigInt(mid) && (i === 0 || BigInt(m.id) < BigInt(page[i - 1]!.id)),
    );
    if (page.length !== limit || !ordered)
      throw new Error(`unexpected page from the server: ${page.length} messages, ordered=${ordered}`);
    const plan = await withClient(stack.db.url, async (db) => {
      for (const r of ['json', 'rows'] as const) assertSamePage(page, await baselinePage(db, r, params), r);
      const sql = render === 'json' ? HISTORY_PAGE_JSON_SQL : HISTORY_PAGE_ROWS_SQL;
      // Bound parameters, like the baseline's queries; the JSON form is for judging, the text for reading.
      const text = (
        await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${sql}`, params)
      ).rows
        .map((r) => r['QUERY PLAN'])
        .join('\n');
      const json = (
        await db.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (FORMAT JSON) ${sql}`, params)
      ).rows[0]!['QUERY PLAN'][0].Plan;
      return { text, json };
    });
    const withReactions = page.filter((m) => (m as { reactions?: unknown[] }).reactions?.length).length;
    process.stdout.write(
      `checked: the server's page (${page.length} messages, ${withReactions} with reactions) equals both baseline renderings\n`,
    );
    const verdict = judgePlan(plan.json);
    process.stdout.write(
      `\nEXPLAIN (ANALYZE, BUFFERS) of the baseline statement (--baseline ${render}, before = middle of the range):\n${plan.text}\n=> ${verdict.verdict}\n\n`,
    );

    const history = { minId, maxId: (BigInt(maxId) + 1n).toString(), limit, viewerId: reader!.id, render };
    const srv = new Map<number, Phase>();
    for (const clients of clientCounts) {
      process.stdout.write(`server phase, ${clients} clients...\n`);
      srv.set(
        clients,
        await runClosedLoopPhase(
          procs,
          () => ({
            kind: 'http',
            baseUrl: server.url,
            mode: 'history',
            tokens: Array.from({ length: Math.ceil(clients / procs) }, () => reader!.token),
            channelIds: [channelId],
            contentLength,
            history,
            warmupMs,
            durationMs,
          }),
          warmupMs,
          durationMs,
          [server.pid],
          stack.db.url,
        ),
      );
    }
    await stack.stopServers();

    const raw = new Map<number, Phase>();
    for (const clients of clientCounts) {
      process.stdout.write(`pg baseline phase (${render}), ${clients} clients...\n`);
      raw.set(
        clients,
        await runClosedLoopPhase(
          procs,
          () => ({
            kind: 'pg',
            databaseUrl: stack.db.url,
            mode: 'history',
            poolSize: Math.max(1, Math.round(poolSize / procs)),
            concurrency: Math.ceil(clients / procs),
            channelIds: [channelId],
            authorIds: [reader!.id],
            contentLength,
            history,
            warmupMs,
            durationMs,
          }),
          warmupMs,
          durationMs,
          [],
          stack.db.url,
        ),
      );
    }
    const after = uptime();
    const rows: Row[] = clientCounts.flatMap((c) => tableRows(c, srv.get(c)!, raw.get(c)!, durationMs));
    rows.push({
      metric: 'plan',
      value: verdict.ok ? 'ordered index walk' : 'NOT OK',
      note: verdict.ok ? verdict.node : verdict.verdict,
    });
    const table = printTable(
      `history: ${messages.toLocaleString('en-US')} messages, limit ${limit}, baseline: one statement, ` +
        `${render === 'json' ? 'JSON rendered by Postgres' : 'rows rendered by Node'}, pool ${poolSize}; load avg ${machineLoad()}`,
      rows,
    );
    for (const c of clientCounts) {
      if (srv.get(c)!.firstFailure)
        process.stdout.write(`first server failure (${c} clients): ${srv.get(c)!.firstFailure}\n`);
      if (raw.get(c)!.firstFailure)
        process.stdout.write(`first baseline failure (${c} clients): ${raw.get(c)!.firstFailure}\n`);
    }
    const json = (m: Map<number, Phase>) =>
      Object.fromEntries([...m].map(([n, ph]) => [n, { ...ph, histogram: ph.histogram.summary() }]));
    writeResult('history', {
      scenario: 'history',
      at: new Date().toISOString(),
      params: {
        durationMs,
        warmupMs,
        clientCounts,
        messages,
        limit,
        contentLength,
        reactionsEvery,
        baseline: render,
        loadProcs: procs,
        poolSize,
      },
      uptimeBefore: before,
      uptimeAfter: after,
      redis: redis.note,
      seedSeconds,
      seeded,
      baselineSql: render === 'json' ? HISTORY_PAGE_JSON_SQL : HISTORY_PAGE_ROWS_SQL,
      explain: plan.text,
      planVerdict: verdict,
      server: json(srv),
      baseline: json(raw),
      ratios: Object.fromEntries(
        clientCounts.map((c) => [c, { throughput: srv.get(c)!.perSecond / raw.get(c)!.perSecond }]),
      ),
      table,
    });
  } finally {
    await stack.close();
    await redis.stop();
  }
}

/** The targets: >= 2,000 pages/s and >= 0.5x at 32 clients; p99 <= 10 ms at 8. */
function tableRows(clients: number, s: Phase, r: Phase, durationMs: number): Row[] {
  const hs = s.histogram.summary();
  const hr = r.histogram.summary();
  const label = `${clients} clients`;
  const both = (v: number, b: number) => ({ value: v, baseline: b, ratio: ratio(v, b) });
  return [
    {
      metric: `${label}: pages/s`,
      ...both(s.perSecond, r.perSecond),
      target: clients === 32 ? '>= 2,000 and >= 0.5x' : undefined,
    },
    { metric: `${label}: p50 (ms)`, ...both(hs.p50, hr.p50) },
    { metric: `${label}: p90 (ms)`, ...both(hs.p90, hr.p90) },
    { metric: `${label}: p99 (ms)`, ...both(hs.p99, hr.p99), target: clients <= 8 ? '<= 10 ms' : undefined },
    { metric: `${label}: max (ms)`, ...both(hs.max, hr.max) },
    { metric: `${label}: failures`, value: failuresText(s.failures), baseline: failuresText(r.failures) },
    {
      metric: `${label}: server CPU per page (ms)`,
      value: (s.watchedCpuSeconds * 1000) / s.completed,
      note: 'server process CPU / completed requests',
    },
    {
      metric: `${label}: Postgres CPU per page (ms)`,
      ...both((s.postgresCpuSeconds * 1000) / s.completed, (r.postgresCpuSeconds * 1000) / r.completed),
      note: 'backends of the bench database',
    },
    {
      metric: `${label}: load-gen CPU (s)`,
      value: s.loadCpuSeconds,
      baseline: r.loadCpuSeconds,
      note: `over ${durationMs / 1000}s; the baseline renders pages in the load process`,
    },
  ];
}
