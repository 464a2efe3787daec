import type { Agent } from 'node:http';
import { RequestFilteringHttpAgent, RequestFilteringHttpsAgent } from 'request-filtering-agent';

/**
 * IPv4-compatible IPv6 (`::a.b.c.d`, deprecated) is "unicast" to ipaddr.js, yet reaches the IPv4
 * address it embeds on some stacks: refused too. Everything else that is not global unicast
 * (loopback, RFC 1918, link-local with 169.254.169.254, 100.64/10, 0/8, multicast, reserved,
 * IPv6 loopback, unique-local, link-local, IPv4-mapped, NAT64, 6to4, Teredo) is refused by
 * request-filtering-agent itself.
 */
const ALSO_REFUSED = ['::/96'];

export interface GuardedAgents {
  http: Agent;
  https: Agent;
}

/**
 * HTTP agents that check the address a connection is about to use, after DNS resolution and for
 * every new connection (so a name that resolves to a public address first and a private one later
 * does not pass), unless private networks are allowed. Keep-alive: a healthy endpoint reuses its
 * connections.
 */
export function guardedAgents(allowPrivateNetworks: boolean, maxSockets: number): GuardedAgents {
  // maxSockets is per origin (host and port).
  const options = {
    keepAlive: true,
    maxSockets,
    maxFreeSockets: maxSockets,
    allowPrivateIPAddress: allowPrivateNetworks,
    allowMetaIPAddress: allowPrivateNetworks,
    denyIPAddressList: allowPrivateNetworks ? [] : ALSO_REFUSED,
  };
  return { http: new RequestFilteringHttpAgent(options), https: new RequestFilteringHttpsAgent(options) };
}

/** The guard's refusal, as request-filtering-agent words it ("... is not allowed ..."). */
export function isGuardRefusal(err: unknown): boolean {
  return err instanceof Error && /^DNS lookup .* is not allowed/.test(err.message);
}
