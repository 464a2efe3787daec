import { EventEmitter } from 'node:events';
import type { PGlite } from '@electric-sql/pglite';
import { cpSync, existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { lockDataDir } from './data-dir-lock';

/** An initialised empty database made by the build (scripts/pglite-template.js), beside the compiled code. */
const TEMPLATE = resolve(__dirname, '../../../../pglite-template');

/**
 * Fills an empty data directory from the build's template instead of letting PGlite run initdb,
 * which peaks at several hundred MB (a second WebAssembly instance plus a copy of the first one's
 * heap). Copied beside it and renamed, so a crash mid-copy leaves no half database behind.
 */
function seedFromTemplate(dataDir: string): void {
  // Only into a folder that is absent or empty: anything else is left to PGlite to judge.
  if (existsSync(dataDir) && readdirSync(dataDir).length > 0) return;
  if (!existsSync(join(TEMPLATE, 'PG_VERSION'))) return;
  const tmp = `${dataDir}.seed-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  cpSync(TEMPLATE, tmp, { recursive: true });
  rmSync(dataDir, { recursive: true, force: true });
  renameSync(tmp, dataDir);
}

type Callback<T> = (err: unknown, value: T | null) => void;

interface PgStyleResult {
  rows: unknown[];
  rowCount: number;
  command: string;
  fields: { name: string; dataTypeID: number }[];
}

/**
 * A `pg.Pool` look-alike over one embedded PGlite database, for TypeORM's postgres driver.
 *
 * PGlite is a single session, so the pool hands out one client at a time: a transaction
 * holds it from BEGIN to COMMIT and other callers queue behind it. Without that, two
 * concurrent transactions would interleave their statements on the same session.
 */
export function pgliteDriver(dataDir: string | undefined) {
  let db: Promise<PGlite> | undefined;
  let unlock: (() => void) | undefined;
  const create = async () => {
    // The entry points switch compilers before anything loads; this covers the others (tests, scripts)
    // on Node versions that still take the flag at run time.
    if (!process.execArgv.includes('--liftoff-only')) setFlagsFromString('--liftoff-only');
    if (dataDir) {
      unlock = lockDataDir(`${dataDir}.lock`, `the embedded database in ${dataDir}`);
      seedFromTemplate(dataDir);
    }
    // Loaded on first use: a server on real Postgres never pays for PGlite's code in memory.
    const { PGlite, types } = await import('@electric-sql/pglite');
    return PGlite.create({
      dataDir,
      // Postgres' default 128 MB of shared buffers is most of an idle embedded server's memory;
      // the embedded default serves small teams, and the OS page cache still holds the files.
      postgresqlconf: ['shared_buffers = 16MB'],
      // Snowflake ids need all 64 bits: keep int8 as a decimal string, as node-postgres does.
      parsers: { [types.INT8]: (v: string) => v },
      serializers: {
        [types.BOOL]: (v: unknown) => (v === true || v === 'true' || v === 1 ? 'true' : 'false'),
      },
    });
  };
  const open = () => (db ??= create());

  class Client extends EventEmitter {
    async query(sql: string, params?: unknown[] | Callback<PgStyleResult>, cb?: Callback<PgStyleResult>) {
      if (typeof params === 'function') {
        cb = params;
        params = undefined;
      }
      try {
        const pg = await open();
        let result: PgStyleResult;
        if (Array.isArray(params) && params.length > 0) {
          const r = await pg.query(sql, params);
          result = {
            rows: r.rows,
            rowCount: r.affectedRows ?? r.rows.length,
            command: commandOf(sql),
            fields: r.fields,
          };
        } else {
          // exec runs several statements (migrations); the last result is the one callers want.
          const all = await pg.exec(sql);
          const last = all[all.length - 1];
          result = {
            rows: last?.rows ?? [],
            rowCount: last?.affectedRows ?? last?.rows.length ?? 0,
            command: commandOf(sql),
            fields: last?.fields ?? [],
          };
        }
        cb?.(null, result);
        return result;
      } catch (err) {
        if (cb) cb(err, null);
        else throw err;
        return undefined;
      }
    }
  }

  class Pool extends EventEmitter {
    private readonly client = new Client();
    private readonly waiting: (() => void)[] = [];
    private held = false;

    connect(cb: (err: unknown, client: Client | null, release: () => void) => void): void {
      const grant = () => {
        this.held = true;
        let released = false;
        const release = () => {
          if (released) return;
          released = true;
          const next = this.waiting.shift();
          if (next) next();
          else this.held = false;
        };
        open().then(
          () => cb(null, this.client, release),
          (err: unknown) => {
            release();
            cb(err, null, () => undefined);
          },
        );
      };
      if (this.held) this.waiting.push(grant);
      else grant();
    }

    /** pg.Pool's `pool.query(config)`: one statement on the session when it is free (the statement name is pg's business). */
    query(config: { text: string; values?: unknown[] }): Promise<PgStyleResult> {
      return new Promise((resolve, reject) => {
        this.connect((err, client, release) => {
          if (err || !client) return reject(err instanceof Error ? err : new Error(String(err)));
          client.query(config.text, config.values ?? []).then(
            (result) => {
              release();
              resolve(result!);
            },
            (error: Error) => {
              release();
              reject(error);
            },
          );
        });
      });
    }

    end(cb: (err: unknown) => void): void {
      if (!db) return cb(null);
      db.then((pg) => pg.close())
        .finally(() => unlock?.())
        .then(
          () => cb(null),
          (err: unknown) => cb(err),
        );
    }
  }

  return { Pool };
}

function commandOf(sql: string): string {
  return /^\s*(\w+)/.exec(sql)?.[1]?.toUpperCase() ?? '';
}
