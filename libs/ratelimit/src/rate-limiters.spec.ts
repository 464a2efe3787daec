import type { Response } from 'express';
import { AppConfig, AppError, MetricsService } from '@cariosan/core';
import { RateLimiters } from './rate-limiters';

function limiters(overrides: Partial<AppConfig['rateLimit']> = {}): RateLimiters {
  const config = new AppConfig();
  config.rateLimit = { ...config.rateLimit, ...overrides };
  return new RateLimiters(config, null, new MetricsService());
}

function response(): Response & { headers: Record<string, string> } {
  const headers: Record<string, string> = {};
  return {
    headers,
    headersSent: false,
    setHeader: (k: string, v: string) => (headers[k] = v),
  } as unknown as Response & { headers: Record<string, string> };
}

describe('RateLimiters (embedded: in memory)', () => {
  it('admits the limit per key, then answers 429 with Retry-After and details', async () => {
    const rl = limiters({ anonymousPerWindow: 2 });
    const answers: (number | string)[] = [];
    for (let i = 0; i < 3; i++) {
      const res = response();
      try {
        rl.settle(res, await rl.consume([{ bucket: 'ip', key: '198.51.100.1' }]));
        answers.push(Number(res.headers['RateLimit-Remaining']));
      } catch (err) {
        expect(err).toBeInstanceOf(AppError);
        const e = err as AppError;
        expect(e.status).toBe(429);
        expect(e.headers['Retry-After']).toBe(res.headers['RateLimit-Reset']);
        expect(e.details).toEqual([{ retryAfter: Number(res.headers['RateLimit-Reset']) }]);
        answers.push(e.code);
      }
    }
    expect(answers).toEqual([1, 0, 'rate_limited']);
    // Another key has its own bucket.
    const other = await rl.consume([{ bucket: 'ip', key: '198.51.100.2' }]);
    expect(other.decisions[0]).toMatchObject({ allowed: true, remaining: 1, limit: 2 });
  });

  it('reports the tightest bucket: a refusing one first, else the fewest requests left', async () => {
    const rl = limiters({ anonymousPerWindow: 100, loginPerWindow: 2, loginAccountPerWindow: 5 });
    const login = () => [
      { bucket: 'ip' as const, key: 'a' },
      { bucket: 'login' as const, key: 'a:u' },
      { bucket: 'loginAccount' as const, key: 'u' },
    ];
    const res = response();
    rl.settle(res, await rl.consume(login()));
    expect(res.headers).toMatchObject({ 'RateLimit-Limit': '2', 'RateLimit-Remaining': '1' });
    rl.settle(response(), await rl.consume(login()));
    const refused = response();
    const tally = await rl.consume(login());
    expect(() => rl.settle(refused, tally)).toThrow('too many requests');
    expect(refused.headers).toMatchObject({ 'RateLimit-Limit': '2', 'RateLimit-Remaining': '0' });
  });

  it('gives each gateway connection a frame limiter from the configured limit', () => {
    const rl = limiters({ gatewayFrames: 2, gatewayWindowSeconds: 1 });
    const conn = rl.frameLimiter();
    expect([conn.consume(), conn.consume(), conn.consume()]).toEqual([true, true, false]);
    expect(rl.frameLimiter().consume()).toBe(true);
  });
});
