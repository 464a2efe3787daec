import { Agent } from 'node:http';
import { Histogram } from '../support/stats';
import { httpRequest } from './http-load';
import { benchContent, type RatePostResult, type RatePostTask } from './protocol';

/**
 * Open-loop poster: post i is due at start + i / rate whatever the earlier answers were, so a
 * slow server shows up as latency instead of a lower offered rate. Posts that would exceed
 * `maxInFlight` are counted as "skipped" instead of queueing without bound.
 */
export async function runRatePost(task: RatePostTask): Promise<RatePostResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: task.maxInFlight });
  const url = new URL(task.path, task.baseUrl);
  const postLatency = new Histogram();
  const failures: Record<string, number> = {};
  let firstFailure: string | undefined;
  const okSeqs: number[] = [];
  const postLatencyBySeq: Record<number, number> = {};
  let inFlight = 0;
  let sent = 0;
  const total = Math.max(1, Math.round((task.rate * task.durationMs) / 1000));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const pending: Promise<void>[] = [];

  const postOne = async (seq: number) => {
    const body = JSON.stringify({ content: benchContent(seq, task.contentLength) });
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
    };
    if (task.token) headers.authorization = `Bearer ${task.token}`;
    const start = performance.now();
    try {
      const res = await httpRequest(agent, url, 'POST', headers, body, 15_000);
      if (res.status >= 200 && res.status < 300) {
        okSeqs.push(seq);
        postLatencyBySeq[seq] = performance.now() - start;
        postLatency.record(postLatencyBySeq[seq]);
      } else {
        failures[res.status] = (failures[res.status] ?? 0) + 1;
        firstFailure ??= `${res.status}: ${res.body.slice(0, 300)}`;
      }
    } catch (err) {
      failures.error = (failures.error ?? 0) + 1;
      firstFailure ??= err instanceof Error ? err.message : String(err);
    } finally {
      inFlight--;
    }
  };

  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / task.rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (inFlight >= task.maxInFlight) {
      failures.skipped = (failures.skipped ?? 0) + 1;
      continue;
    }
    inFlight++;
    sent++;
    pending.push(postOne(task.firstSeq + i));
  }
  const windowMs = performance.now() - t0;
  await Promise.all(pending);
  const cpu = process.cpuUsage(cpu0);
  agent.destroy();
  return {
    sent,
    ok: okSeqs.length,
    failures,
    firstFailure,
    okSeqs,
    postLatencyBySeq,
    postLatency: postLatency.toJSON(),
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    windowMs,
  };
}
