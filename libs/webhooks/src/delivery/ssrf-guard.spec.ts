import type { LookupAddress } from 'node:dns';
import type { Socket } from 'node:net';
import { guardedAgents, isGuardRefusal } from './ssrf-guard';

/**
 * The guard's decision for each address class, without sending a packet anywhere: addresses
 * reach it either as the URL's IP literal (checked before connecting) or from DNS (a stub resolver
 * here, checked in the connection's lookup, before connecting). Only a refusal is expected, so no
 * test here connects to anything; allowed public addresses are not tried.
 */
const REFUSED = [
  '127.0.0.1',
  '127.255.255.254',
  '10.0.0.1',
  '172.16.0.1',
  '172.31.255.255',
  '192.168.1.1',
  '169.254.169.254',
  '100.64.0.1',
  '0.0.0.0',
  '0.1.2.3',
  '224.0.0.1',
  '239.255.255.250',
  '240.0.0.1',
  '255.255.255.255',
  '192.0.2.10',
  '198.18.0.1',
  '::1',
  '::',
  'fc00::1',
  'fd12:3456::1',
  'fe80::1',
  'ff02::1',
  '::ffff:127.0.0.1',
  '::ffff:a9fe:a9fe',
  '::ffff:10.0.0.1',
  '::7f00:1',
  '::a00:1',
  '64:ff9b::7f00:1',
  '2002:7f00:1::',
];

type CreateConnection = (
  options: Record<string, unknown>,
  cb: (err: Error | null, socket: Socket) => void,
) => Socket;

function connectError(address: string, viaDns: boolean): Promise<Error | null> {
  const agent = guardedAgents(false, 1).http as unknown as { createConnection: CreateConnection };
  return new Promise((resolve) => {
    const options: Record<string, unknown> = viaDns
      ? {
          host: 'rebinding.example',
          port: 9,
          lookup: (_h: string, opts: { all?: boolean }, cb: (...args: unknown[]) => void) =>
            opts.all
              ? cb(null, [{ address, family: address.includes(':') ? 6 : 4 }] as LookupAddress[])
              : cb(null, address, address.includes(':') ? 6 : 4),
        }
      : { host: address, port: 9 };
    const socket = agent.createConnection(options, (err) => resolve(err));
    socket.once('error', (err) => resolve(err));
    socket.once('connect', () => {
      socket.destroy();
      resolve(null);
    });
  });
}

describe('SSRF guard (request-filtering-agent, default deny)', () => {
  it.each(REFUSED)('refuses %s given as an IP literal', async (address) => {
    const err = await connectError(address, false);
    expect(isGuardRefusal(err)).toBe(true);
  });

  it.each(REFUSED)('refuses %s when a name resolves to it (checked at connect time)', async (address) => {
    const err = await connectError(address, true);
    expect(isGuardRefusal(err)).toBe(true);
  });

  it('numeric host forms are normalised by URL parsing before the guard sees them', () => {
    for (const host of ['2130706433', '0x7f.1', '017700000001', '127.1', '0x7f000001'])
      expect(new URL(`http://${host}:9/`).hostname).toBe('127.0.0.1');
  });
});
