import { ConnectionFrameLimiter } from './connection-frame-limiter';

describe('ConnectionFrameLimiter', () => {
  it('admits the limit per window, refuses the rest, and starts over when the window ends', () => {
    let now = 1_000;
    const limiter = new ConnectionFrameLimiter(3, 60_000, () => now);
    expect([1, 2, 3, 4, 5].map(() => limiter.consume())).toEqual([true, true, true, false, false]);
    expect(limiter.remaining).toBe(0);
    now += 59_999;
    expect(limiter.consume()).toBe(false);
    now += 1;
    expect(limiter.remaining).toBe(3);
    expect(limiter.consume()).toBe(true);
    expect(limiter.remaining).toBe(2);
  });

  it('counts each connection on its own', () => {
    const a = new ConnectionFrameLimiter(1, 60_000);
    const b = new ConnectionFrameLimiter(1, 60_000);
    expect(a.consume()).toBe(true);
    expect(a.consume()).toBe(false);
    expect(b.consume()).toBe(true);
  });
});
