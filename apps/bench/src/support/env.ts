/** The only place the bench reads its environment. */
export const benchEnv = {
  /** Admin URL of the Postgres the bench creates its throw-away databases on. */
  databaseUrl: process.env.CARIOS_BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres',
  redisUrl: process.env.CARIOS_BENCH_REDIS_URL || 'redis://127.0.0.1:6379',
  path: process.env.PATH ?? '',
  home: process.env.HOME ?? '/tmp',
};
