import { randomBytes } from 'node:crypto';
import { Pool } from 'pg';
import { insertMessageLikeServer } from '../scenarios/sql';
import {
  HISTORY_PAGE_JSON_SQL,
  HISTORY_PAGE_ROWS_SQL,
  renderHistoryRows,
  type HistoryRow,
} from '../scenarios/history-sql';
import { clientLoad, randomBetween } from './loop';
import { benchContent, type ClosedLoopResult, type PgLoadTask } from './protocol';

/** The baseline: the same statements straight through a `pg.Pool` sized like the server's. */
export async function runPgLoad(task: PgLoadTask): Promise<ClosedLoopResult> {
  const pool = new Pool({ connectionString: task.databaseUrl, max: task.poolSize });
  // Open the pool's connections before the clock starts, as the server's pool is warm too.
  const warm = await Promise.all(Array.from({ length: task.poolSize }, () => pool.connect()));
  warm.forEach((c) => c.release());
  let seq = 0;
  const salt = randomBytes(4).toString('hex');
  const minId = BigInt(task.history?.minId ?? '0');
  const maxId = BigInt(task.history?.maxId ?? '0');
  const result = await clientLoad(task, task.concurrency, async (client) => {
    if (task.mode === 'post') {
      const n = seq++;
      const author = task.authorIds[client % task.authorIds.length]!;
      const c = await pool.connect();
      try {
        await insertMessageLikeServer(
          c,
          {
            channelId: task.channelIds[client % task.channelIds.length]!,
            authorId: author,
            username: `bench${client}`,
            content: benchContent(n, task.contentLength),
            nonce: `${salt}-${n}`,
          },
          task.lock ?? true,
        );
      } finally {
        c.release();
      }
      return undefined;
    }
    const h = task.history!;
    const params = [task.channelIds[0], randomBetween(minId, maxId).toString(), h.limit, h.viewerId];
    // Both renderings end with the answer body as one string, as a server would write it.
    // Named statements: parsed and planned once per connection, the fastest way through pg.
    if (h.render === 'json') {
      const { rows } = await pool.query<{ member: boolean; page: string }>({
        name: 'history-page-json',
        text: HISTORY_PAGE_JSON_SQL,
        values: params,
      });
      return rows[0]?.member && rows[0].page.length > 2 ? undefined : 'empty: not a member or no messages';
    }
    const { rows } = await pool.query<HistoryRow>({
      name: 'history-page-rows',
      text: HISTORY_PAGE_ROWS_SQL,
      values: params,
    });
    return rows[0]?.member && renderHistoryRows(rows).length > 2 ? undefined : 'empty: no rows';
  });
  await pool.end();
  return result;
}
