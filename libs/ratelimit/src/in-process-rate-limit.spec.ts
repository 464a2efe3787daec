import { decision, InProcessRateLimit, windowStart } from './in-process-rate-limit';

describe('InProcessRateLimit', () => {
  it('allows up to the limit in a window, then refuses, per key', async () => {
    const rl = new InProcessRateLimit();
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await rl.hit('a', 3, 60));
    expect(results.map((r) => r.allowed)).toEqual([true, true, true, false]);
    expect(results.map((r) => r.remaining)).toEqual([2, 1, 0, 0]);
    expect((await rl.hit('b', 3, 60)).allowed).toBe(true);
  });

  it('aligns windows and never reports a reset of zero seconds', () => {
    expect(windowStart(125_000, 60)).toBe(120_000);
    expect(decision(1, 5, 10).resetSeconds).toBe(1);
    expect(decision(6, 5, 30_500)).toEqual({ allowed: false, limit: 5, remaining: 0, resetSeconds: 31 });
  });
});
