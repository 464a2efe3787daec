import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';

/**
 * An embedded database belongs to one process: two PGlite instances on one folder (a second
 * server, or the admin command while the server runs) would corrupt it. The lock is a file
 * holding its owner's identity; a lock whose owner is gone (crash, kill -9, reboot, container
 * restart) is taken over.
 */
export class DataDirLockedError extends Error {}

interface Owner {
  pid: number;
  /** Process start time (Linux, clock ticks since boot) and boot id: a reused pid is not the owner. */
  start?: string;
  boot?: string;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function identity(pid: number): Owner {
  const stat = read(`/proc/${pid}/stat`);
  // Field 22 counted after the command name, which may itself hold spaces and parentheses.
  const start = stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  return { pid, start, boot: read('/proc/sys/kernel/random/boot_id') };
}

function running(owner: Owner): boolean {
  if (owner.pid === process.pid) return false; // our own pid from a previous life (containers reuse them)
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const now = identity(owner.pid);
  if (owner.boot && now.boot && owner.boot !== now.boot) return false;
  return !(owner.start && now.start && owner.start !== now.start);
}

/** Takes the lock or throws DataDirLockedError; returns the release function. */
export function lockDataDir(lockPath: string, what: string): () => void {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(lockPath, JSON.stringify(identity(process.pid)), { flag: 'wx' });
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        process.off('exit', release);
        try {
          unlinkSync(lockPath);
        } catch {
          /* already gone */
        }
      };
      process.on('exit', release);
      return release;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let owner: Owner | undefined;
    try {
      owner = JSON.parse(read(lockPath) ?? '') as Owner;
    } catch {
      owner = undefined; // half-written by a process that died at that moment
    }
    if (owner && running(owner)) {
      throw new DataDirLockedError(
        `${what} is in use by process ${owner.pid}: stop it first (or point this one at another CARIOS_DATA_DIR)`,
      );
    }
    try {
      unlinkSync(lockPath);
    } catch {
      /* someone else took it over first; try again */
    }
  }
  throw new DataDirLockedError(`could not lock ${lockPath}`);
}
