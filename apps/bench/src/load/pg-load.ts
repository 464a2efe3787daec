import { randomBytes } from 'node:crypto';
import { Pool } from 'pg';
import { HISTORY_SQL, insertMessageLikeServer } from '../scenarios/sql';
import { closedLoop, randomBetween } from './loop';
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
  const result = await closedLoop(task.concurrency, task.warmupMs, task.durationMs, async (client) => {
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
    const before = randomBetween(minId, maxId).toString();
    await pool.query(HISTORY_SQL, [task.channelIds[0], before, task.history?.limit ?? 50]);
    return undefined;
  });
  await pool.end();
  return result;
}
