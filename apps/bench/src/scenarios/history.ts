import type { Client } from 'pg';
import type { Flags } from '../support/args';
import { withClient } from '../support/database';
import { machineLoad, printTable, ratio, writeResult, type Row } from '../support/report';
import { api, createChannel, insertUsers } from '../support/seed';
import { startStack } from '../support/stack';
import { failuresText, runClosedLoopPhase, uptime } from './common';
import { HISTORY_SQL, HISTORY_VIEWS_SQL } from './sql';

const SERVER_POOL_SIZE = 20;
/** 2026-01-01T00:00:00Z, the Snowflake epoch of the init migration (not imported: the bench stays free of Nest). */
const SNOWFLAKE_EPOCH_MS = 1_767_225_600_000;
const SEED_CHUNK = 100_000;

/**
 * Seeds `count` messages straight into the table with ascending Snowflake ids one millisecond
 * apart, ending a minute ago (so ids the server mints later are all larger). The low 22 bits
 * are 0, which next_snowflake() never produces (its sequence starts at 1), so no collision.
 */
async function seedMessages(
  db: Client,
  channelId: string,
  authorId: string,
  count: number,
  contentLength: number,
): Promise<{ minId: string; maxId: string }> {
  const firstMs = Date.now() - SNOWFLAKE_EPOCH_MS - 60_000 - count;
  for (let from = 0; from < count; from += SEED_CHUNK) {
    const to = Math.min(count, from + SEED_CHUNK) - 1;
    await db.query(
      `INSERT INTO messages (id, channel_id, author_id, content, mentions, created_at)
       SELECT ($3::bigint + g) << 22, $1, $2,
              left(repeat(md5(g::text) || ' ', ($6::int / 33) + 1), $6::int),
              '{}'::bigint[],
              to_timestamp(($7::bigint + $3::bigint + g) / 1000.0)
         FROM generate_series($4::bigint, $5::bigint) AS g`,
      [channelId, authorId, firstMs, from, to, contentLength, SNOWFLAKE_EPOCH_MS],
    );
    process.stdout.write(`  seeded ${to + 1}/${count}\n`);
  }
  const { rows } = await db.query<{ min: string; max: string }>(
    'SELECT min(id)::text AS min, max(id)::text AS max FROM messages WHERE channel_id = $1',
    [channelId],
  );
  return { minId: rows[0]!.min, maxId: rows[0]!.max };
}

/** Checks that the plan walks the (channel_id, id) index as a range: no Seq Scan, no Sort. */
export function judgePlan(plan: string): { ok: boolean; node: string; verdict: string } {
  const node = /(Index (?:Only )?Scan(?: Backward)?) using messages_channel_id_id_idx/.exec(plan)?.[1];
  const cond = /Index Cond: \(\(channel_id = .*\) AND \(id < .*\)\)/.test(plan);
  const seq = /Seq Scan on messages/.test(plan);
  const sort = /(^|\s)Sort\b/m.test(plan);
  const ok = node !== undefined && cond && !seq && !sort;
  return {
    ok,
    node: node ?? 'none',
    verdict: ok
      ? `OK: ${node} using messages_channel_id_id_idx with Index Cond channel_id = .. AND id < .. (range), no Seq Scan, no Sort`
      : `NOT OK: node=${node ?? 'none'} rangeCond=${cond} seqScan=${seq} sort=${sort}`,
  };
}

/** `history`: random deep keyset pages of one big channel, REST vs the same SQL through `pg`. */
export async function runHistory(flags: Flags): Promise<void> {
  const durationMs = flags.num('duration', 15, 1, 600) * 1000;
  const warmupMs = flags.num('warmup', 3, 0, 60) * 1000;
  const clients = flags.num('clients', 32, 1, 1024);
  const messages = flags.num('messages', 1_000_000, 100, 50_000_000);
  const limit = flags.num('limit', 50, 1, 100);
  const contentLength = flags.num('content-length', 100, 1, 4000);
  const procs = flags.num('load-procs', 1, 1, 8);
  flags.assertAllUsed();

  const before = uptime();
  process.stdout.write(
    `history: ${messages} messages, ${clients} clients, limit ${limit}, ${durationMs / 1000}s (+${warmupMs / 1000}s warmup)\n${before}\n`,
  );
  const stack = await startStack(1);
  try {
    const server = stack.servers[0]!;
    const [reader] = await withClient(stack.db.url, (db) => insertUsers(db, 1, 'reader'));
    const channelId = await createChannel(server.url, reader!, 'history');
    const seedStart = Date.now();
    const { minId, maxId } = await withClient(stack.db.url, async (db) => {
      const range = await seedMessages(db, channelId, reader!.id, messages, contentLength);
      await db.query('VACUUM ANALYZE messages');
      await db.query('CHECKPOINT');
      return range;
    });
    const seedSeconds = (Date.now() - seedStart) / 1000;
    process.stdout.write(
      `seeded ${messages} messages in ${seedSeconds.toFixed(1)}s (ids ${minId}..${maxId})\n`,
    );

    // A deep cursor in the middle of the range, with the literal values a custom plan sees.
    const mid = ((BigInt(minId) + BigInt(maxId)) / 2n).toString();
    const { plan, viewsPlan } = await withClient(stack.db.url, async (db) => {
      const explain = async (sql: string, params: unknown[]) =>
        (await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${sql}`, params)).rows
          .map((r) => r['QUERY PLAN'])
          .join('\n');
      // Bound parameters, like the server's queries (pg's unnamed statements get a custom plan).
      const page = await db.query<{ id: string }>(HISTORY_SQL, [channelId, mid, limit]);
      return {
        plan: await explain(HISTORY_SQL, [channelId, mid, limit]),
        viewsPlan: await explain(HISTORY_VIEWS_SQL, [`{${page.rows.map((r) => r.id).join(',')}}`]),
      };
    });
    const verdict = judgePlan(plan);
    process.stdout.write(
      `\nEXPLAIN (ANALYZE, BUFFERS) of the server's page query (before = middle of the range):\n${HISTORY_SQL}\n\n${plan}\n=> ${verdict.verdict}\n\nthen, for the page ids:\n${HISTORY_VIEWS_SQL}\n\n${viewsPlan}\n\n`,
    );

    // Sanity: one page through REST is `limit` messages, newest first, all older than the cursor.
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

    const history = { minId, maxId: (BigInt(maxId) + 1n).toString(), limit };
    process.stdout.write(`server phase...\n`);
    const srv = await runClosedLoopPhase(
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
    );
    await stack.stopServers();

    process.stdout.write(`raw pg baseline phase...\n`);
    const raw = await runClosedLoopPhase(
      procs,
      () => ({
        kind: 'pg',
        databaseUrl: stack.db.url,
        mode: 'history',
        poolSize: Math.max(1, Math.round(SERVER_POOL_SIZE / procs)),
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
    );
    const after = uptime();
    const s = srv.histogram.summary();
    const b = raw.histogram.summary();
    const rows: Row[] = [
      {
        metric: 'pages/s',
        value: srv.perSecond,
        baseline: raw.perSecond,
        ratio: ratio(srv.perSecond, raw.perSecond),
      },
      { metric: 'latency p50 (ms)', value: s.p50, baseline: b.p50, ratio: ratio(s.p50, b.p50) },
      { metric: 'latency p90 (ms)', value: s.p90, baseline: b.p90, ratio: ratio(s.p90, b.p90) },
      {
        metric: 'latency p99 (ms)',
        value: s.p99,
        baseline: b.p99,
        ratio: ratio(s.p99, b.p99),
        target: '<= 10 ms',
      },
      { metric: 'latency max (ms)', value: s.max, baseline: b.max, ratio: ratio(s.max, b.max) },
      { metric: 'failures', value: failuresText(srv.failures), baseline: failuresText(raw.failures) },
      {
        metric: 'load-gen CPU (s)',
        value: srv.loadCpuSeconds,
        baseline: raw.loadCpuSeconds,
        note: `over ${durationMs / 1000}s window`,
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
        metric: 'server CPU per page (ms)',
        value: (srv.watchedCpuSeconds * 1000) / srv.completed,
        note: 'server process CPU time / completed requests',
      },
      {
        metric: 'plan',
        value: verdict.ok ? 'index range scan' : 'NOT index range',
        note: verdict.ok
          ? `${verdict.node} on messages_channel_id_id_idx, no Seq Scan/Sort`
          : verdict.verdict,
      },
    ];
    const table = printTable(
      `history: ${messages.toLocaleString('en-US')} messages, ${clients} clients, limit ${limit}, load avg ${machineLoad()}`,
      rows,
    );
    if (srv.firstFailure) process.stdout.write(`first server failure: ${srv.firstFailure}\n`);
    if (raw.firstFailure) process.stdout.write(`first baseline failure: ${raw.firstFailure}\n`);
    writeResult('history', {
      scenario: 'history',
      at: new Date().toISOString(),
      params: { durationMs, warmupMs, clients, messages, limit, contentLength, loadProcs: procs },
      uptimeBefore: before,
      uptimeAfter: after,
      seedSeconds,
      idRange: { minId, maxId },
      baselineSql: HISTORY_SQL,
      explain: plan,
      explainViews: viewsPlan,
      planVerdict: verdict,
      server: { ...srv, histogram: s },
      baseline: { ...raw, histogram: b },
      ratios: { throughput: srv.perSecond / raw.perSecond, p50: s.p50 / b.p50, p99: s.p99 / b.p99 },
      table,
    });
  } finally {
    await stack.close();
  }
}
