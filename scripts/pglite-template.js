#!/usr/bin/env node
/**
 * Creates an empty embedded database (PGlite's initdb) in the folder given, for the build.
 *
 * initdb is the most memory-hungry thing the embedded server would ever do (about 700 MB: PGlite
 * runs it in a second WebAssembly instance beside a copy of the first one's heap). Done once here,
 * a server's first boot copies this folder instead and stays within its own footprint.
 * Usage: node scripts/pglite-template.js <dir>
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');

async function main() {
  const dir = process.argv[2];
  if (!dir) throw new Error('usage: pglite-template.js <dir>');
  const { PGlite } = await import('@electric-sql/pglite');
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  const pg = await PGlite.create({ dataDir: tmp });
  await pg.query('SELECT 1');
  await pg.close();
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
  process.stderr.write(`build: embedded database template in ${path.relative(process.cwd(), dir)}\n`);
}

main().catch((err) => {
  process.stderr.write(`pglite-template: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
