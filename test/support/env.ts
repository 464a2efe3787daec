import { Socket } from 'node:net';

/** Resolves true when something accepts TCP connections at host:port within the timeout. */
export function answers(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('error', () => done(false));
    s.connect(port, host, () => done(true));
  });
}

/**
 * The services the tests run against: CARIOS_TEST_DATABASE_URL / CARIOS_TEST_REDIS_URL when
 * set, the local Postgres and Redis when they answer on 127.0.0.1, embedded otherwise (and always
 * with CARIOS_TEST_EMBEDDED=1).
 * Resolved once in global setup and handed to every worker through the environment.
 */
export async function resolveTestServices(
  env: NodeJS.ProcessEnv,
): Promise<{ databaseUrl?: string; redisUrl?: string }> {
  // Proves the embedded path (PGlite, in-process adapters) on a machine that has the services.
  if (env.CARIOS_TEST_EMBEDDED === '1' || env.CARIOS_TEST_EMBEDDED === 'true') return {};
  const databaseUrl =
    env.CARIOS_TEST_DATABASE_URL ||
    ((await answers('127.0.0.1', 5432)) ? 'postgres://postgres@127.0.0.1:5432/postgres' : undefined);
  const redisUrl =
    env.CARIOS_TEST_REDIS_URL || ((await answers('127.0.0.1', 6379)) ? 'redis://127.0.0.1:6379' : undefined);
  return { databaseUrl, redisUrl };
}

/** What global setup resolved (empty strings mean embedded). */
export const testServices = {
  get databaseUrl(): string | undefined {
    return process.env.CARIOS_TEST_DATABASE_URL || undefined;
  },
  get redisUrl(): string | undefined {
    return process.env.CARIOS_TEST_REDIS_URL || undefined;
  },
};
