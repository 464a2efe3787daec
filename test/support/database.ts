import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { testServices } from './env';

/**
 * A fresh, empty database on the test Postgres for one suite, dropped by `drop()`.
 * Returns undefined when the tests run embedded (each server then gets its own PGlite dir).
 */
export async function createTestDatabase(): Promise<{ url: string; drop: () => Promise<void> } | undefined> {
  const admin = testServices.databaseUrl;
  if (!admin) return undefined;
  const name = `cariosan_t_${randomBytes(6).toString('hex')}`;
  const client = new Client({ connectionString: admin });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new Client({ connectionString: admin });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
