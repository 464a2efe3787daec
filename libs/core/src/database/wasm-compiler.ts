import { setFlagsFromString } from 'node:v8';

const FLAG = '--liftoff-only';
/**
 * Set with it when the process restarts anyway: a young generation of 4 MB semi-spaces instead of
 * Node 24's larger default, about 30 MB less resident for a small server's allocation rate.
 */
const WITH_RESTART = ['--max-semi-space-size=4'];

/**
 * Keeps WebAssembly in V8's baseline compiler (Liftoff) for the embedded database. V8 otherwise
 * recompiles PGlite's hot functions with TurboFan, and on Node 24 compiles eagerly: the optimised
 * code of its 9 MB module costs 100-550 MB of resident memory that is never given back, for no
 * measurable gain at an embedded server's load (`npm run bench -- boot`).
 *
 * The flag is process-wide and must be set before the module is compiled. Node 24 freezes V8 flags
 * after start-up, so there the process replaces itself (`process.execve`: same pid, same stdio, so
 * supervisors and signals are unaffected) with the flag on its command line; older Node takes the
 * flag at run time. Only the embedded database is WebAssembly here. Flags given on the command line
 * are kept (and win).
 */
export function useBaselineWasmCompiler(): void {
  if (process.execArgv.includes(FLAG)) return;
  const execve = (process as { execve?: (file: string, args: string[], env: NodeJS.ProcessEnv) => never })
    .execve;
  if (typeof execve === 'function') {
    const extra = WITH_RESTART.filter((f) => !process.execArgv.some((a) => a.startsWith(f.split('=')[0]!)));
    execve.call(
      process,
      process.execPath,
      [process.execPath, FLAG, ...extra, ...process.execArgv, ...process.argv.slice(1)],
      process.env,
    );
  }
  setFlagsFromString(FLAG);
}
