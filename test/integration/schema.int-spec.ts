import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as typeorm from 'typeorm';
import * as core from '@cariosan/core';
import { SCHEMA } from '@cariosan/migrations';
import { createTestDatabase } from '../support/database';

/**
 * Migrations are the schema; entities must describe exactly what they build (no drift), and
 * every migration's down must undo exactly its up (releases roll back one migration at a time,
 * see docs/operations.md). Reads migrations/ and migrations/index.ts, so new migrations and
 * entities are covered without touching this file. Real Postgres when available, else PGlite.
 *
 * PGlite loads Node built-ins with dynamic import(), which Jest's VM refuses without
 * --experimental-vm-modules; embedded, the same steps therefore run in a plain Node process over
 * the build (dist/, as the e2e tests). `runSteps` is that one script, used by both paths.
 */
interface Report {
  migrationNames: string[];
  initial: Objects;
  /** Our objects after each migration's up, in order. */
  afterEachUp: Objects[];
  pendingAfterUp: boolean;
  drift: string[];
  /** Our objects after each migration's down, newest first. */
  afterEachDown: Objects[];
  migrationsAfterDown: unknown[];
  reapplied: number;
  driftAfterReapply: string[];
}
interface Objects {
  tables: string[];
  /** `table.column type null|not null default`, so a down that leaves a column behind shows. */
  columns: string[];
  indexes: string[];
  constraints: string[];
  sequences: string[];
  functions: string[];
  types: string[];
}

/** Plain JS (runs in Jest or in `node -e`): builds the DataSource, migrates up, checks drift, reverts all, migrates again. */
const STEPS = `
async function runSteps(core, SCHEMA, typeorm, env) {
  const open = (migrations) =>
    new typeorm.DataSource(core.dataSourceOptions(core.loadConfig(env), { ...SCHEMA, migrations })).initialize();
  const names = async (ds, sql) => (await ds.query(sql)).map((r) => r.name).sort();
  const objects = async (ds) => ({
    tables: await names(ds, "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> 'migrations'"),
    columns: await names(ds, "SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '') AS name FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> 'migrations'"),
    indexes: await names(ds, "SELECT indexname AS name FROM pg_indexes WHERE schemaname = 'public' AND tablename <> 'migrations'"),
    constraints: await names(ds, "SELECT c.conname AS name FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = 'public' AND t.relname <> 'migrations'"),
    sequences: await names(ds, "SELECT sequence_name AS name FROM information_schema.sequences WHERE sequence_schema = 'public' AND sequence_name <> 'migrations_id_seq'"),
    functions: await names(ds, "SELECT p.proname AS name FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'"),
    types: await names(ds, "SELECT t.typname AS name FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd', 'c') AND t.typrelid = 0"),
  });
  const drift = async (ds) => (await ds.driver.createSchemaBuilder().log()).upQueries.map((q) => q.query);
  const all = SCHEMA.migrations;
  const report = { migrationNames: [], afterEachUp: [], afterEachDown: [] };
  // Up one migration at a time (a data source that knows only the first k), so each one's effect is recorded on its own.
  for (let k = 0; k <= all.length; k++) {
    const ds = await open(all.slice(0, k));
    try {
      if (k === 0) report.initial = await objects(ds);
      else {
        const applied = await ds.runMigrations({ transaction: 'each' });
        report.migrationNames.push(...applied.map((m) => m.name));
        report.afterEachUp.push(await objects(ds));
      }
    } finally {
      await ds.destroy();
    }
  }
  const ds = await open(all);
  try {
    report.pendingAfterUp = await ds.showMigrations();
    report.drift = await drift(ds);
    for (let i = 0; i < all.length; i++) {
      await ds.undoLastMigration({ transaction: 'each' });
      report.afterEachDown.push(await objects(ds));
    }
    report.migrationsAfterDown = await ds.query('SELECT name FROM migrations');
    report.reapplied = (await ds.runMigrations({ transaction: 'each' })).length;
    report.driftAfterReapply = await drift(ds);
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

/** The migration files on disk, oldest first, as TypeORM names their classes (`<Name><timestamp>`). */
function migrationFiles(): { file: string; timestamp: string }[] {
  return readdirSync(resolve(__dirname, '../../migrations'))
    .map((file) => ({ file, m: /^(\d{13})-[a-z0-9-]+\.ts$/.exec(file) }))
    .filter((f) => f.m)
    .map((f) => ({ file: f.file, timestamp: f.m![1]! }))
    .sort((a, b) => a.timestamp.localeCompare(b.timestamp));
}

describe('schema: migrations and entities', () => {
  let report: Report;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let dataDir: string;
  const none: Objects = {
    tables: [],
    columns: [],
    indexes: [],
    constraints: [],
    sequences: [],
    functions: [],
    types: [],
  };

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

  it('registers every migration file in migrations/index.ts, in timestamp order', () => {
    const files = migrationFiles();
    expect(files.length).toBeGreaterThanOrEqual(2);
    // A file left out of index.ts would never run; one listed out of order would run out of order.
    expect(report.migrationNames.map((n) => /(\d{13})$/.exec(n)?.[1])).toEqual(files.map((f) => f.timestamp));
  });

  it('applies every migration to an empty database, each one changing the schema', () => {
    expect(report.initial).toEqual(none);
    expect(report.afterEachUp).toHaveLength(migrationFiles().length);
    let previous = report.initial;
    for (const state of report.afterEachUp) {
      expect(state).not.toEqual(previous);
      previous = state;
    }
    expect(report.pendingAfterUp).toBe(false);
  });

  it('has entities that match the migrations exactly', () => {
    // Printed in full on failure: the statements that would make the database match the entities.
    expect(report.drift).toEqual([]);
  });

  it("undoes each migration exactly: after a down the schema is what it was before that migration's up", () => {
    const before = [report.initial, ...report.afterEachUp.slice(0, -1)].reverse();
    expect(report.afterEachDown).toEqual(before);
    expect(report.migrationsAfterDown).toEqual([]);
    expect(report.afterEachDown.at(-1)).toEqual(none);
  });

  it('migrates up again after the downs, still without drift', () => {
    expect(report.reapplied).toBe(migrationFiles().length);
    expect(report.driftAfterReapply).toEqual([]);
  });
});
