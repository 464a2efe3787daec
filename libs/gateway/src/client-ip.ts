import type { IncomingMessage } from 'node:http';

/**
 * The client's address as Express's `trust proxy = hops` sees it: the peer, or, behind `hops`
 * trusted proxies, the address that many entries from the right of `X-Forwarded-For`.
 */
export function clientIp(req: IncomingMessage, hops: number): string {
  const peer = req.socket.remoteAddress ?? 'unknown';
  if (hops <= 0) return peer;
  const header = req.headers['x-forwarded-for'];
  const forwarded = (Array.isArray(header) ? header.join(',') : (header ?? ''))
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean);
  // Right to left: the peer, then each proxy's view of its own peer.
  const chain = [peer, ...forwarded.reverse()];
  return chain[Math.min(hops, chain.length - 1)]!;
}
