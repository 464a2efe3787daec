import WebSocket from 'ws';

interface Target {
  webSocketDebuggerUrl?: string;
}

/** Heap figures V8 reports after the forced collection. */
export interface HeapAfterGc {
  usedBytes: number;
  totalBytes: number;
}

/**
 * Forces a full garbage collection in the Node process whose inspector listens on
 * `127.0.0.1:<port>` (`HeapProfiler.collectGarbage` over the DevTools protocol, which makes V8
 * collect everything unreachable and give free pages back) and reads its heap usage. The
 * session uses no other domain and is closed at once, so the process runs as before.
 */
export async function forceGc(port: number, timeoutMs = 30_000): Promise<HeapAfterGc> {
  const targets = (await (
    await fetch(`http://127.0.0.1:${port}/json/list`, { signal: AbortSignal.timeout(timeoutMs) })
  ).json()) as Target[];
  const url = targets.find((t) => t.webSocketDebuggerUrl)?.webSocketDebuggerUrl;
  if (!url) throw new Error(`no inspector target on port ${port}`);
  const ws = new WebSocket(url, { perMessageDeflate: false });
  try {
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    let nextId = 1;
    const call = (method: string) =>
      new Promise<Record<string, unknown>>((resolve, reject) => {
        const id = nextId++;
        const timer = setTimeout(
          () => reject(new Error(`${method}: no answer in ${timeoutMs} ms`)),
          timeoutMs,
        );
        const onMessage = (data: Buffer) => {
          const msg = JSON.parse(data.toString()) as {
            id?: number;
            result?: Record<string, unknown>;
            error?: { message: string };
          };
          if (msg.id !== id) return;
          clearTimeout(timer);
          ws.off('message', onMessage);
          if (msg.error) reject(new Error(`${method}: ${msg.error.message}`));
          else resolve(msg.result ?? {});
        };
        ws.on('message', onMessage);
        ws.send(JSON.stringify({ id, method }));
      });
    // Twice: objects with finalizers or weak references die in the first pass and are freed in the second.
    await call('HeapProfiler.collectGarbage');
    await call('HeapProfiler.collectGarbage');
    const usage = await call('Runtime.getHeapUsage');
    return { usedBytes: Number(usage.usedSize), totalBytes: Number(usage.totalSize) };
  } finally {
    ws.terminate();
  }
}
