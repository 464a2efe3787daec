import { isIPv4, isIPv6 } from 'node:net';
import type { Request } from 'express';

/**
 * The bucket key of a client address: an IPv4 address as it is (an IPv4-mapped IPv6 address
 * becomes its IPv4 form), an IPv6 address by its /64 prefix, since one subscriber usually holds a
 * whole /64 and could otherwise change address per request.
 */
export function bucketIp(address: string | undefined): string {
  if (!address) return 'unknown';
  const plain = address.replace(/%.*$/, '');
  if (plain.toLowerCase().startsWith('::ffff:') && isIPv4(plain.slice(7))) return plain.slice(7);
  if (!isIPv6(plain)) return plain;
  const [head, tail] = plain.toLowerCase().split('::') as [string, string | undefined];
  const groupsOf = (part: string | undefined) =>
    part ? part.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g])) : [];
  const h = groupsOf(head);
  const t = groupsOf(tail);
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}

/**
 * The client address of an HTTP request: the socket's peer, or the entry of `X-Forwarded-For`
 * that the last of `CARIOS_TRUST_PROXY_HOPS` trusted proxies appended (Express' `trust proxy`
 * is set to that count, so `req.ip` is exactly that).
 */
export function clientIp(req: Request): string {
  return bucketIp(req.ip ?? req.socket?.remoteAddress);
}

/**
 * The same rule for a request Express does not see (a WebSocket upgrade): with `hops` trusted
 * proxies in front, the client is the hops-th address counted from the right of the socket's
 * peer followed by the `X-Forwarded-For` entries; with none trusted, the header is ignored.
 */
export function forwardedClientIp(
  remoteAddress: string | undefined,
  forwardedFor: string | string[] | undefined,
  hops: number,
): string {
  const header = Array.isArray(forwardedFor) ? forwardedFor.join(',') : (forwardedFor ?? '');
  const chain = [
    remoteAddress ?? '',
    ...header
      .split(',')
      .map((a) => a.trim())
      .filter(Boolean)
      .reverse(),
  ];
  return bucketIp(chain[Math.min(hops, chain.length - 1)]);
}
