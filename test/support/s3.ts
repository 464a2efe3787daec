import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import { freePort } from './server';

export const TEST_BUCKET = 'cariosan-test';

/** Browsers on any origin may PUT and GET (the bucket CORS rule docs/attachments.md gives, with * for tests). */
const CORS = `<CORSConfiguration>
  <CORSRule>
    <AllowedOrigin>*</AllowedOrigin>
    <AllowedMethod>PUT</AllowedMethod>
    <AllowedMethod>GET</AllowedMethod>
    <AllowedMethod>HEAD</AllowedMethod>
    <AllowedHeader>*</AllowedHeader>
    <ExposeHeader>ETag</ExposeHeader>
    <MaxAgeSeconds>600</MaxAgeSeconds>
  </CORSRule>
</CORSConfiguration>`;

export type SwitchMode = 'pass' | 'stall' | 'refuse';

/**
 * s3rver (an S3 API on local disk; it does not check signatures) behind a TCP switch the test
 * controls: `pass` forwards, `stall` accepts and never answers, `refuse` resets every connection.
 * The server under test talks to the switch (`internalEndpoint`); browsers and the test reach
 * s3rver directly by another host name (`publicEndpoint`, localhost), as with CARIOS_S3_PUBLIC_ENDPOINT.
 */
export interface TestS3 {
  internalEndpoint: string;
  publicEndpoint: string;
  env: Record<string, string>;
  setMode: (mode: SwitchMode) => void;
  /** The object's bytes as s3rver has them, or undefined (read directly, not through the switch). */
  object: (key: string) => Promise<Buffer | undefined>;
  close: () => Promise<void>;
}

export async function startS3(): Promise<TestS3> {
  const directory = mkdtempSync(join(tmpdir(), 'cariosan-s3-'));
  const s3Port = await freePort();
  const s3 = new S3rver({
    address: '127.0.0.1',
    port: s3Port,
    directory,
    silent: true,
    configureBuckets: [{ name: TEST_BUCKET, configs: [CORS] }],
  });
  await s3.run();

  let mode: SwitchMode = 'pass';
  const sockets = new Set<Socket>();
  const proxy: Server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    if (mode === 'refuse') return client.resetAndDestroy();
    if (mode === 'stall') return; // read nothing, answer nothing
    const upstream = new Socket();
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.connect(s3Port, '127.0.0.1', () => {
      client.pipe(upstream);
      upstream.pipe(client);
    });
  });
  await new Promise<void>((res) => proxy.listen(0, '127.0.0.1', () => res()));
  const proxyPort = (proxy.address() as { port: number }).port;

  const internalEndpoint = `http://127.0.0.1:${proxyPort}`;
  const publicEndpoint = `http://localhost:${s3Port}`;
  return {
    internalEndpoint,
    publicEndpoint,
    env: {
      CARIOS_S3_BUCKET: TEST_BUCKET,
      CARIOS_S3_ENDPOINT: internalEndpoint,
      CARIOS_S3_PUBLIC_ENDPOINT: publicEndpoint,
      CARIOS_S3_ACCESS_KEY: 'S3RVER',
      CARIOS_S3_SECRET_KEY: 'S3RVER',
      CARIOS_S3_REGION: 'us-east-1',
    },
    setMode: (m) => {
      mode = m;
      // Connections opened before keep going as they were: drop them so the new mode applies.
      for (const s of sockets) s.destroy();
    },
    object: async (key) => {
      const r = await fetch(`http://127.0.0.1:${s3Port}/${TEST_BUCKET}/${key}`);
      return r.status === 200 ? Buffer.from(await r.arrayBuffer()) : undefined;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((res) => proxy.close(res));
      await s3.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
