/** The only place the bench reads its environment. */
export const benchEnv = {
  /** Admin URL of the Postgres the bench creates its throw-away databases on. */
  databaseUrl: process.env.CARIOS_BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres',
  /** A Redis to use instead of a private redis-server started per run (its counters are then shared). */
  redisUrlOverride: process.env.CARIOS_BENCH_REDIS_URL || undefined,
  /** The fallback when neither a private redis-server nor the override is available. */
  redisUrl: process.env.CARIOS_BENCH_REDIS_URL || 'redis://127.0.0.1:6379',
  /** Extra node arguments for the server processes, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`. */
  serverNodeArgs: (process.env.CARIOS_BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean),
  path: process.env.PATH ?? '',
  home: process.env.HOME ?? '/tmp',
};
