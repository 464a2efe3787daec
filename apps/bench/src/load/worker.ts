/**
 * A load-generating child process. The orchestrator forks it and sends one task over IPC, so
 * the load generator never shares an event loop (or a core's time slice) with what it measures.
 */
import type { FromWorker, Task, ToWorker } from './protocol';
import { runHttpLoad } from './http-load';
import { runPgLoad } from './pg-load';
import { runRatePost } from './rate-post';
import { GatewayHolder } from './gateway-holder';

function send(msg: FromWorker): void {
  process.send?.(msg);
}

let holder: GatewayHolder | undefined;

async function run(task: Task): Promise<void> {
  switch (task.kind) {
    case 'http':
      send({ type: 'result', result: await runHttpLoad(task) });
      return;
    case 'pg':
      send({ type: 'result', result: await runPgLoad(task) });
      return;
    case 'rate-post':
      send({ type: 'result', result: await runRatePost(task) });
      return;
    case 'gateway-hold': {
      holder = new GatewayHolder(task);
      const c = await holder.connect();
      send({ type: 'connected', ...c });
      return;
    }
  }
}

process.on('message', (raw: unknown) => {
  const msg = raw as ToWorker;
  const fail = (err: unknown) =>
    send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  switch (msg.type) {
    case 'run':
      run(msg.task).catch(fail);
      return;
    case 'step-start':
      holder?.stepStart(msg.fromSeq, msg.toSeq);
      return;
    case 'step-end':
      if (holder) send({ type: 'step', report: holder.stepEnd() });
      return;
    case 'count':
      send({ type: 'count', benchFrames: holder?.benchFrameCount() ?? 0 });
      return;
    case 'close':
      (holder ? holder.close() : Promise.resolve())
        .then(() =>
          send({ type: 'closed', cpuSeconds: (process.cpuUsage().user + process.cpuUsage().system) / 1e6 }),
        )
        .catch(fail);
      return;
  }
});

// The orchestrator going away ends this process too: no orphaned load generators.
process.on('disconnect', () => process.exit(0));
