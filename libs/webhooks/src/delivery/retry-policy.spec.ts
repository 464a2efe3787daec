import { nextRetry, parseRetryAfter } from './retry-policy';

describe('webhook retry policy', () => {
  const schedule = [5_000, 300_000, 1_800_000];

  it('follows the schedule with jitter within +-20 %, then gives up', () => {
    expect(nextRetry(schedule, 1, undefined, () => 0)).toEqual({ retry: true, delayMs: 4_000 });
    expect(nextRetry(schedule, 1, undefined, () => 1)).toEqual({ retry: true, delayMs: 6_000 });
    expect(nextRetry(schedule, 2, undefined, () => 0.5)).toEqual({ retry: true, delayMs: 300_000 });
    expect(nextRetry(schedule, 3, undefined, () => 0.5)).toEqual({ retry: true, delayMs: 1_800_000 });
    expect(nextRetry(schedule, 4, undefined)).toEqual({ retry: false });
  });

  it('honours Retry-After, capped at the largest step, never sooner than the schedule', () => {
    expect(nextRetry(schedule, 1, 60_000, () => 0.5)).toEqual({ retry: true, delayMs: 60_000 });
    expect(nextRetry(schedule, 1, 86_400_000, () => 0.5)).toEqual({ retry: true, delayMs: 1_800_000 });
    expect(nextRetry(schedule, 1, 0, () => 0.5)).toEqual({ retry: true, delayMs: 5_000 });
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    expect(parseRetryAfter('120')).toBe(120_000);
    expect(parseRetryAfter(new Date(10_000 + 30_000).toUTCString(), 10_000)).toBe(30_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});
