import { randomBytes } from 'node:crypto';
import { SOCKET_IO_SCHEMA_SQL } from '../baselines/socketio-schema';
import { createBenchDatabase, withClient } from './database';
import { onInterrupt, startSocketIoServer, type ServerProcess, type StartOptions } from './processes';

/** The Socket.IO + Redis adapter + Postgres baseline: `replicas` processes on one Redis and one database. */
export interface SocketIoCluster {
  servers: ServerProcess[];
  stop: () => Promise<void>;
}

/** Creates its table in `databaseUrl` (if missing) and starts the replicas, each with a pool of `poolSize`. */
export async function startSocketIoCluster(
  o: { databaseUrl: string; redisUrl: string; replicas: number; poolSize: number } & StartOptions,
): Promise<SocketIoCluster> {
  await withClient(o.databaseUrl, async (c) => {
    for (const sql of SOCKET_IO_SCHEMA_SQL) await c.query(sql);
  });
  const adapterKey = `bench-sio-${randomBytes(4).toString('hex')}`;
  const servers: ServerProcess[] = [];
  const stop = async () => {
    await Promise.all(servers.map((s) => s.stop()));
  };
  try {
    for (let i = 0; i < o.replicas; i++)
      servers.push(
        await startSocketIoServer(
          { databaseUrl: o.databaseUrl, redisUrl: o.redisUrl, adapterKey, poolSize: o.poolSize },
          { inspect: o.inspect },
        ),
      );
  } catch (err) {
    await stop();
    throw err;
  }
  return { servers, stop };
}

/**
 * The cluster on a fresh database of its own (for scenarios whose server database is gone by
 * then); `stop()` also drops it, and so does an interrupt. `serverDatabaseUrl` may rewrite the
 * URL the replicas get (a counting proxy).
 */
export async function startSocketIoClusterOnOwnDatabase(
  o: {
    redisUrl: string;
    replicas: number;
    poolSize: number;
    serverDatabaseUrl?: (url: string) => string;
  } & StartOptions,
): Promise<SocketIoCluster> {
  const db = await createBenchDatabase();
  const forget = onInterrupt(() => db.drop());
  const dropDb = async () => {
    await db.drop();
    forget();
  };
  try {
    const cluster = await startSocketIoCluster({
      ...o,
      databaseUrl: o.serverDatabaseUrl ? o.serverDatabaseUrl(db.url) : db.url,
    });
    return {
      servers: cluster.servers,
      stop: async () => {
        await cluster.stop();
        await dropDb();
      },
    };
  } catch (err) {
    await dropDb();
    throw err;
  }
}
