#!/usr/bin/env node
/**
 * Builds dist/ safely when several commands want it at once (two `npm start` in one checkout,
 * a test run beside a server):
 *
 * - `--if-stale` skips the build when dist/build-info.json records the same hash of the inputs
 *   (sources, tsconfigs, lockfile, this script), so `npm start` does not recompile for nothing;
 * - one build at a time per checkout (a lock directory, taken over from a dead holder);
 * - the build is written to a temporary folder and renamed into place, so nobody ever loads a
 *   half-written dist/ (the MODULE_NOT_FOUND a second replica died with).
 *
 * Besides compiling, it records the version and commit (dist/build-info.json, read by /healthz
 * and the cariosan_build_info metric) and prepares the embedded database's template
 * (dist/pglite-template, see libs/core/src/database/pglite-template.ts).
 *
 * Plain Node (no dependencies of its own): it runs before anything is compiled.
 */
'use strict';
const { createHash } = require('node:crypto');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const DIST = path.join(ROOT, 'dist');
const LOCK = path.join(ROOT, '.build.lock');
const INFO = 'build-info.json';
const INPUT_DIRS = ['apps', 'libs', 'migrations'];
const INPUT_FILES = [
  'package.json',
  'package-lock.json',
  'tsconfig.json',
  'tsconfig.build.json',
  'scripts/build.js',
  'scripts/pglite-template.js',
];
const LOCK_WAIT_MS = 10 * 60_000;

const log = (msg) => process.stderr.write(`build: ${msg}\n`);

/** Every file the output depends on, hashed by path and content (mtimes lie after a checkout). */
function inputsHash() {
  const files = [...INPUT_FILES];
  const walk = (dir) => {
    for (const entry of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      const rel = path.posix.join(dir, entry.name);
      if (entry.isDirectory()) walk(rel);
      else if (entry.name.endsWith('.ts') && !/\.(e2e-)?spec\.ts$/.test(entry.name)) files.push(rel);
    }
  };
  INPUT_DIRS.forEach(walk);
  const hash = createHash('sha256');
  for (const file of files.sort()) {
    hash.update(`${file}\0`);
    hash.update(fs.existsSync(path.join(ROOT, file)) ? fs.readFileSync(path.join(ROOT, file)) : '');
    hash.update('\0');
  }
  return hash.digest('hex');
}

function current(hash) {
  try {
    const info = JSON.parse(fs.readFileSync(path.join(DIST, INFO), 'utf8'));
    return info.inputs === hash && fs.existsSync(path.join(DIST, 'apps/server/src/main.js'));
  } catch {
    return false;
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** A directory is created atomically or not at all: whoever creates it holds the lock. */
function lock() {
  const deadline = Date.now() + LOCK_WAIT_MS;
  let announced = false;
  for (;;) {
    try {
      fs.mkdirSync(LOCK);
      fs.writeFileSync(path.join(LOCK, 'pid'), String(process.pid));
      return;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
    }
    let holder = NaN;
    try {
      holder = Number(fs.readFileSync(path.join(LOCK, 'pid'), 'utf8'));
    } catch {
      /* being created or removed right now */
    }
    if (Number.isInteger(holder) && holder > 0 && !alive(holder)) {
      log(`taking over the lock of process ${holder}, which is gone`);
      fs.rmSync(LOCK, { recursive: true, force: true });
      continue;
    }
    if (!announced) log('another build is running in this checkout; waiting for it');
    announced = true;
    if (Date.now() > deadline) throw new Error(`${LOCK} is still held after ${LOCK_WAIT_MS / 1000} s`);
    sleep(200);
  }
}

function unlock() {
  fs.rmSync(LOCK, { recursive: true, force: true });
}

function gitCommit() {
  if (process.env.CARIOSAN_COMMIT) return process.env.CARIOSAN_COMMIT;
  const git = (...args) =>
    execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    const commit = git('rev-parse', '--short=12', 'HEAD');
    // Built from a working tree with changes: say so, the commit alone would not reproduce it.
    return git('status', '--porcelain', '--untracked-files=no') ? `${commit}-dirty` : commit;
  } catch {
    return 'unknown';
  }
}

function node(script, args) {
  execFileSync(process.execPath, [script, ...args], { cwd: ROOT, stdio: 'inherit' });
}

function build(hash) {
  const out = path.join(ROOT, `dist.tmp-${process.pid}`);
  fs.rmSync(out, { recursive: true, force: true });
  const started = Date.now();
  try {
    node(require.resolve('typescript/bin/tsc'), ['-p', 'tsconfig.build.json', '--outDir', out]);
    node(require.resolve('tsc-alias/dist/bin/index.js'), ['-p', 'tsconfig.build.json', '--outDir', out]);
    node(path.join(__dirname, 'pglite-template.js'), [path.join(out, 'pglite-template')]);
    const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    const info = { version, commit: gitCommit(), builtAt: new Date().toISOString(), inputs: hash };
    fs.writeFileSync(path.join(out, INFO), `${JSON.stringify(info, null, 2)}\n`);
    // Two renames: a directory cannot replace a non-empty one in one step. Only a build holding
    // the lock swaps, and readers that miss dist/ in between wait on the lock and look again.
    const old = path.join(ROOT, `dist.old-${process.pid}`);
    if (fs.existsSync(DIST)) fs.renameSync(DIST, old);
    fs.renameSync(out, DIST);
    fs.rmSync(old, { recursive: true, force: true });
    log(`dist/ built in ${((Date.now() - started) / 1000).toFixed(1)} s (${info.version}, ${info.commit})`);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

function main() {
  const ifStale = process.argv.includes('--if-stale');
  const hash = inputsHash();
  if (ifStale && current(hash)) return;
  lock();
  try {
    // Someone else may have built it while we waited.
    if (ifStale && current(inputsHash())) return;
    build(inputsHash());
  } finally {
    unlock();
  }
}

try {
  main();
} catch (err) {
  log(err instanceof Error ? err.message : String(err));
  process.exit(1);
}
