import { bucketIp, forwardedClientIp } from './client-ip';

describe('bucketIp', () => {
  it('keeps IPv4, unwraps IPv4-mapped IPv6 and keys IPv6 by its /64', () => {
    expect(bucketIp('203.0.113.9')).toBe('203.0.113.9');
    expect(bucketIp('::ffff:203.0.113.9')).toBe('203.0.113.9');
    expect(bucketIp('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(bucketIp('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(bucketIp('2001:DB8::1')).toBe('2001:db8:0:0::/64');
    expect(bucketIp('::1')).toBe('0:0:0:0::/64');
    expect(bucketIp('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(bucketIp(undefined)).toBe('unknown');
  });
});

describe('forwardedClientIp', () => {
  it('ignores X-Forwarded-For when no proxy is trusted', () => {
    expect(forwardedClientIp('10.0.0.5', '198.51.100.7', 0)).toBe('10.0.0.5');
  });

  it('takes the entry the last trusted proxy appended, never one the client wrote before it', () => {
    // client forged "6.6.6.6", the proxy (10.0.0.5) appended the real peer 198.51.100.7.
    expect(forwardedClientIp('10.0.0.5', '6.6.6.6, 198.51.100.7', 1)).toBe('198.51.100.7');
    expect(forwardedClientIp('10.0.0.5', ['6.6.6.6', '198.51.100.7, 10.0.0.4'], 2)).toBe('198.51.100.7');
    // More hops trusted than entries: the leftmost address there is.
    expect(forwardedClientIp('10.0.0.5', '198.51.100.7', 5)).toBe('198.51.100.7');
    expect(forwardedClientIp('10.0.0.5', undefined, 1)).toBe('10.0.0.5');
  });
});
