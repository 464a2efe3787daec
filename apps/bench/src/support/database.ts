import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { benchEnv } from './env';

export interface BenchDatabase {
  name: string;
  url: string;
  drop: () => Promise<void>;
}

async function adminQuery(sql: string): Promise<void> {
  const c = new Client({ connectionString: benchEnv.databaseUrl });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/** A fresh, empty database for one bench run; `drop()` removes it (also with open connections). */
export async function createBenchDatabase(): Promise<BenchDatabase> {
  const name = `cariosan_bench_${randomBytes(5).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  const url = new URL(benchEnv.databaseUrl);
  url.pathname = `/${name}`;
  // One drop, shared: an interrupt's cleanup must wait for a drop already under way (the
  // scenario's own `finally`), not return early and let the process exit in the middle of it.
  let dropping: Promise<void> | undefined;
  return {
    name,
    url: url.toString(),
    drop: () => (dropping ??= adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)),
  };
}

/** Runs `fn` with one short-lived client on the bench database. */
export async function withClient<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}
