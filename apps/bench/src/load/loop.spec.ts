import { openLoop } from './loop';

describe('openLoop', () => {
  it('records exactly the calls due inside the window, whatever their timing', async () => {
    const seen: number[] = [];
    // 100/s: calls 0..39 are due in 400 ms; those due in [100 ms, 400 ms) are 10..39.
    const r = await openLoop(100, 100, 300, 1000, async (i) => {
      seen.push(i);
      return i % 10 === 3 ? 'bad: odd one out' : undefined;
    });
    expect(seen).toHaveLength(40);
    expect(r.completed).toBe(27);
    expect(r.failures).toEqual({ bad: 3 });
    expect(r.firstFailure).toBe('bad: odd one out');
  });

  it('skips calls due while maxInFlight are pending instead of queueing them', async () => {
    let release = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const started: number[] = [];
    const run = openLoop(100, 0, 200, 5, async (i) => {
      started.push(i);
      await gate;
      return undefined;
    });
    // The loop has scheduled everything once 20 calls were due; only then open the gate.
    while (started.length < 5) await new Promise((r) => setTimeout(r, 10));
    setTimeout(release, 300);
    const r = await run;
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect(r.completed).toBe(5);
    expect(r.failures).toEqual({ skipped: 15 });
  });
});
