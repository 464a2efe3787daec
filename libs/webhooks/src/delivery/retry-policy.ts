/** What to do after a failed attempt: try again after `delayMs`, or give up. */
export type RetryDecision = { retry: true; delayMs: number } | { retry: false };

/**
 * The delay before the next attempt after the `failures`-th failed one in a row:
 * CARIOS_WEBHOOK_RETRY_SCHEDULE's entry with up to +-20 % jitter (so endpoints recovering at
 * once are not hit by every retry in the same instant). A `Retry-After` of 429/503 answers is
 * honoured, capped at the schedule's largest step. Past the schedule's end: give up.
 */
export function nextRetry(
  schedule: readonly number[],
  failures: number,
  retryAfterMs: number | undefined,
  random: () => number = Math.random,
): RetryDecision {
  const step = schedule[failures - 1];
  if (step === undefined) return { retry: false };
  const jittered = Math.round(step * (0.8 + 0.4 * random()));
  if (retryAfterMs === undefined) return { retry: true, delayMs: jittered };
  return { retry: true, delayMs: Math.min(Math.max(retryAfterMs, jittered), Math.max(...schedule)) };
}

/** `Retry-After` as milliseconds: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(header: string | undefined, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const value = header.trim();
  if (/^\d{1,10}$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
