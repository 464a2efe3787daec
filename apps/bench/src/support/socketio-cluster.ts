import { randomBytes } from 'node:crypto';
import { SOCKET_IO_SCHEMA_SQL } from '../baselines/socketio-schema';
import { withClient } from './database';
import { startSocketIoServer, type ServerProcess, type StartOptions } from './processes';

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
