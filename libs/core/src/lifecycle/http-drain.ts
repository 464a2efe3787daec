import type { Server } from 'node:http';
import type { Socket } from 'node:net';

interface SocketState {
  active: number;
  served: number;
}

/**
 * Lets a shutdown finish every request that reached the server. Node's `server.close()` also
 * destroys "idle" connections, and a connection whose request bytes are still on their way
 * counts as idle: closing at once resets requests sent just before SIGTERM. So the drain waits
 * until every open connection has delivered a request (or `graceMs` passed) before closing;
 * meanwhile each response carries `Connection: close` (see configureHttp) so sockets end after it.
 */
export function trackHttpConnections(server: Server): { drain: (graceMs: number) => Promise<void> } {
  const sockets = new Map<Socket, SocketState>();
  server.on('connection', (socket: Socket) => {
    sockets.set(socket, { active: 0, served: 0 });
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('request', (req: { socket: Socket }, res: { once: (e: 'close', cb: () => void) => void }) => {
    const state = sockets.get(req.socket);
    if (!state) return;
    state.active++;
    res.once('close', () => {
      state.active--;
      state.served++;
      // A keep-alive socket that goes idle after close() began would linger until keepAliveTimeout.
      if (draining && state.active === 0) req.socket.end();
    });
  });
  let draining = false;

  return {
    drain: async (graceMs) => {
      draining = true;
      const deadline = Date.now() + graceMs;
      const waitingForRequest = () => [...sockets.values()].some((s) => s.active === 0 && s.served === 0);
      for (;;) {
        // setImmediate runs after the poll phase: bytes that arrived while the loop was busy are parsed before we look.
        await new Promise((r) => setTimeout(r, 20));
        await new Promise((r) => setImmediate(r));
        if (!waitingForRequest() || Date.now() >= deadline) break;
      }
      // Stops accepting, closes connections at rest, resolves once the active ones have answered.
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
