import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as typeorm from 'typeorm';
import * as core from '@cariosan/core';
import { SCHEMA } from '@cariosan/migrations';
import { createTestDatabase } from '../support/database';

/**
 * Migrations are the schema; entities must describe exactly what they build (no drift), and
 * every migration must undo itself. Reads migrations/index.ts, so new migrations and entities
 * are covered without touching this file. Real Postgres when available, else PGlite.
 *
 * PGlite loads Node built-ins with dynamic import(), which Jest's VM refuses without
 * --experimental-vm-modules; embedded, the same steps therefore run in a plain Node process over
 * the build (dist/, as the e2e tests). `runSteps` is that one script, used by both paths.
 */
interface Report {
  migrationCount: number;
  initial: Objects;
  applied: number;
  pendingAfterUp: boolean;
  drift: string[];
  migrationsAfterDown: unknown[];
  afterDown: Objects;
  reapplied: number;
  driftAfterReapply: string[];
}
interface Objects {
  tables: string[];
  sequences: string[];
  functions: string[];
  types: string[];
}

/** Plain JS (runs in Jest or in `node -e`): builds the DataSource, migrates up, checks drift, reverts all, migrates again. */
const STEPS = `
async function runSteps(core, SCHEMA, typeorm, env) {
  const migrationCount = Array.isArray(SCHEMA.migrations) ? SCHEMA.migrations.length : Object.keys(SCHEMA.migrations).length;
  const ds = await new typeorm.DataSource(core.dataSourceOptions(core.loadConfig(env), SCHEMA)).initialize();
  const names = async (sql) => (await ds.query(sql)).map((r) => r.name).sort();
  const objects = async () => ({
    tables: await names("SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> 'migrations'"),
    sequences: await names("SELECT sequence_name AS name FROM information_schema.sequences WHERE sequence_schema = 'public' AND sequence_name <> 'migrations_id_seq'"),
    functions: await names("SELECT p.proname AS name FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'"),
    types: await names("SELECT t.typname AS name FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd', 'c') AND t.typrelid = 0"),
  });
  const drift = async () => (await ds.driver.createSchemaBuilder().log()).upQueries.map((q) => q.query);
  try {
    const report = { migrationCount, initial: await objects() };
    report.applied = (await ds.runMigrations({ transaction: 'each' })).length;
    report.pendingAfterUp = await ds.showMigrations();
    report.drift = await drift();
    for (let i = 0; i < migrationCount; i++) await ds.undoLastMigration({ transaction: 'each' });
    report.migrationsAfterDown = await ds.query('SELECT name FROM migrations');
    report.afterDown = await objects();
    report.reapplied = (await ds.runMigrations({ transaction: 'each' })).length;
    report.driftAfterReapply = await drift();
    return report;
  } finally {
    await ds.destroy();
  }
}`;

function inProcess(env: Record<string, string>): Promise<Report> {
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const runSteps = new Function(`${STEPS}; return runSteps;`)() as (...args: unknown[]) => Promise<Report>;
  return runSteps(core, SCHEMA, typeorm, env);
}

function inChildProcess(env: Record<string, string>): Report {
  // The build the e2e tests use (CARIOS_TEST_SERVER_ENTRY is dist/apps/server/src/main.js of another build).
  const entry = process.env.CARIOS_TEST_SERVER_ENTRY;
  const dist = entry ? resolve(entry, '../../../..') : resolve(__dirname, '../../dist');
  if (!existsSync(join(dist, 'migrations/index.js')))
    throw new Error('dist/ is missing: run `npm run build` first');
  const script = `${STEPS}
    require('reflect-metadata');
    runSteps(require(${JSON.stringify(join(dist, 'libs/core/src/index.js'))}), require(${JSON.stringify(join(dist, 'migrations/index.js'))}).SCHEMA, require('typeorm'), ${JSON.stringify(env)})
      .then((r) => process.stdout.write(JSON.stringify(r)), (e) => { process.stderr.write(String(e && e.stack || e)); process.exit(1); });`;
  const out = execFileSync(process.execPath, ['-e', script], {
    cwd: resolve(__dirname, '../..'),
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
  });
  return JSON.parse(out) as Report;
}

describe('schema: migrations and entities', () => {
  let report: Report;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let dataDir: string;
  const none: Objects = { tables: [], sequences: [], functions: [], types: [] };

  beforeAll(async () => {
    db = await createTestDatabase();
    dataDir = mkdtempSync(join(tmpdir(), 'cariosan-schema-'));
    report = db
      ? await inProcess({ CARIOS_DATABASE_URL: db.url })
      : inChildProcess({ CARIOS_DATA_DIR: dataDir });
  });

  afterAll(async () => {
    await db?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('applies every migration (as listed in migrations/index.ts) to an empty database', () => {
    expect(report.initial).toEqual(none);
    expect(report.migrationCount).toBe(
      Array.isArray(SCHEMA.migrations) ? SCHEMA.migrations.length : Object.keys(SCHEMA.migrations).length,
    );
    expect(report.applied).toBe(report.migrationCount);
    expect(report.pendingAfterUp).toBe(false);
  });

  it('has entities that match the migrations exactly', () => {
    // Printed in full on failure: the statements that would make the database match the entities.
    expect(report.drift).toEqual([]);
  });

  it('reverts every migration, leaving none of our objects behind', () => {
    expect(report.migrationsAfterDown).toEqual([]);
    expect(report.afterDown).toEqual(none);
  });

  it('migrates up again after the downs, still without drift', () => {
    expect(report.reapplied).toBe(report.migrationCount);
    expect(report.driftAfterReapply).toEqual([]);
  });
});
