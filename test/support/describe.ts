import { testServices } from './env';

/** `describe` that only runs with a real Postgres (several replicas need a shared database). */
export const describeWithPostgres = testServices.databaseUrl ? describe : describe.skip;
/** `describe` that only runs with real Postgres and Redis (cross-replica fanout). */
export const describeWithCluster =
  testServices.databaseUrl && testServices.redisUrl ? describe : describe.skip;
