import { isSnowflake, newSecret, sha256, SNOWFLAKE_EPOCH_MS, snowflakeTime } from './ids';

describe('ids', () => {
  it('reads the creation time from the top bits of a Snowflake', () => {
    const at = Date.parse('2026-03-12T09:30:00.000Z');
    const id = ((BigInt(at - SNOWFLAKE_EPOCH_MS) << 22n) | 12345n).toString();
    expect(snowflakeTime(id).toISOString()).toBe('2026-03-12T09:30:00.000Z');
    expect(snowflakeTime('0').getTime()).toBe(SNOWFLAKE_EPOCH_MS);
  });

  // next_snowflake() itself (ids never going backwards, also past 2^22 in one millisecond) is
  // exercised on real Postgres: test/e2e/outbox.e2e-spec.ts.

  it.each(['0', '1', '123456789012345678', '9223372036854775807'])('accepts %p as a Snowflake', (v) => {
    expect(isSnowflake(v)).toBe(true);
  });

  it.each([
    '',
    '-1',
    'abc',
    '1.5',
    '1e5',
    ' 1',
    '1 ',
    '9223372036854775808',
    '99999999999999999999999',
    '00000000000000000001',
    '０',
  ])('refuses %p as a Snowflake', (v) => {
    expect(isSnowflake(v)).toBe(false);
  });

  it('mints 256-bit url-safe secrets with the prefix', () => {
    const a = newSecret('cst_');
    const b = newSecret('cst_');
    expect(a).toMatch(/^cst_[A-Za-z0-9_-]{43}$/);
    expect(a).not.toBe(b);
  });

  it('hashes with SHA-256', () => {
    expect(sha256('abc').toString('hex')).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });
});
