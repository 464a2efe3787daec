import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface RedisClientInfo {
  id: string;
  addr: string;
  name: string;
  flags: string;
  cmd: string;
  /** Channel, pattern and shard subscriptions together. */
  subscriptions: number;
  /** The line of CLIENT LIST as Redis printed it. */
  line: string;
}

/** Parses `CLIENT LIST` output. */
export function parseClientList(text: string): RedisClientInfo[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((line) => {
      const f = new Map(
        line.split(' ').map((kv) => {
          const i = kv.indexOf('=');
          return [kv.slice(0, i), kv.slice(i + 1)] as const;
        }),
      );
      const n = (k: string) => Number(f.get(k) ?? 0) || 0;
      return {
        id: f.get('id') ?? '',
        addr: f.get('addr') ?? '',
        name: f.get('name') ?? '',
        flags: f.get('flags') ?? '',
        cmd: f.get('cmd') ?? '',
        subscriptions: n('sub') + n('psub') + n('ssub'),
        line,
      };
    });
}

/**
 * Local TCP ports of the process `pid`'s connections to `remotePort` on this machine (from
 * /proc: the process's socket inodes matched against the kernel's TCP tables).
 */
export function localPortsOf(pid: number, remotePort: number): Set<number> {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      /* closed meanwhile */
    }
  }
  const ports = new Set<number>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const local = parseInt(f[1]!.split(':').at(-1)!, 16);
      const remote = parseInt(f[2]!.split(':').at(-1)!, 16);
      if (remote === remotePort && inodes.has(f[9]!)) ports.add(local);
    }
  }
  return ports;
}

/**
 * The Redis connections of one server process (by pid) that listen to the bus: those with
 * subscriptions, else those blocked in a read (a stream-based bus). `cli` runs redis-cli
 * against the Redis listening on `redisPort`.
 */
export function busConnectionsOf(
  cli: (...args: string[]) => string,
  redisPort: number,
  pid: number,
): RedisClientInfo[] {
  const ports = localPortsOf(pid, redisPort);
  const mine = parseClientList(cli('CLIENT', 'LIST')).filter((c) =>
    ports.has(Number(c.addr.split(':').at(-1))),
  );
  const subscribed = mine.filter((c) => c.subscriptions > 0);
  return subscribed.length > 0 ? subscribed : mine.filter((c) => c.flags.includes('b'));
}
