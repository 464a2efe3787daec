import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { loadConfig } from '@cariosan/core';
import { LocalObjectError, LocalStorage } from './local-storage';

const KEY = 'attachments/0123456789abcdef0123456789abcdef';

function query(url: string): Record<string, string> {
  return Object.fromEntries(new URL(url).searchParams);
}

async function status(p: Promise<unknown>): Promise<number | 'ok'> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    if (err instanceof LocalObjectError) return err.status;
    throw err;
  }
}

describe('LocalStorage', () => {
  let dir: string;
  let storage: LocalStorage;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cariosan-local-'));
    storage = new LocalStorage(loadConfig({ CARIOS_DATA_DIR: dir, CARIOS_PORT: '8123' }));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('signs upload URLs for the server itself and takes exactly the signed bytes', async () => {
    const up = await storage.presignUpload(KEY, 'text/plain', 5, 600);
    expect(up.url.startsWith(`http://127.0.0.1:8123/uploads/${KEY}?`)).toBe(true);
    const q = query(up.url);
    const headers = { contentType: 'text/plain', contentLength: '5' };
    expect(
      await status(storage.receive(KEY, { ...q, size: '6' }, headers, Readable.from([Buffer.from('hello')]))),
    ).toBe(403);
    expect(
      await status(storage.receive(KEY, q, { ...headers, contentType: 'text/html' }, Readable.from([]))),
    ).toBe(403);
    expect(await status(storage.receive(KEY, q, { ...headers, contentLength: '4' }, Readable.from([])))).toBe(
      403,
    );
    // A lying Content-Length: the body is counted, not trusted.
    expect(await status(storage.receive(KEY, q, headers, Readable.from([Buffer.from('hello!')])))).toBe(413);
    expect(await status(storage.receive(KEY, q, headers, Readable.from([Buffer.from('hell')])))).toBe(400);
    expect(await storage.head(KEY)).toBeUndefined();
    expect(readdirSync(join(dir, 'attachments')).filter((f) => f.includes('.part-'))).toEqual([]);
    expect(
      await status(storage.receive(KEY, q, headers, Readable.from([Buffer.from('he'), Buffer.from('llo')]))),
    ).toBe('ok');
    expect(await storage.head(KEY)).toEqual({ size: 5, contentType: 'text/plain' });
    expect(await status(storage.receive(KEY, q, headers, Readable.from([Buffer.from('hello')])))).toBe(409);
  });

  it('refuses expired and tampered URLs, and serves downloads with the signed disposition', async () => {
    const expired = await storage.presignUpload(KEY, 'text/plain', 1, -1);
    expect(
      await status(
        storage.receive(
          KEY,
          query(expired.url),
          { contentType: 'text/plain', contentLength: '1' },
          Readable.from(['x']),
        ),
      ),
    ).toBe(403);
    const up = await storage.presignUpload(KEY, 'text/html', 3, 60);
    await storage.receive(
      KEY,
      query(up.url),
      { contentType: 'text/html', contentLength: '3' },
      Readable.from(['<b>']),
    );
    const url = await storage.downloadUrl(KEY, {
      filename: 'x.html',
      contentType: 'text/html',
      asAttachment: true,
      expiresInSeconds: 60,
    });
    const file = await storage.open(KEY, query(url));
    file.stream.destroy();
    expect(file).toMatchObject({ size: 3, contentType: 'text/html' });
    expect(file.disposition).toMatch(/^attachment; filename="x.html"/);
    const tampered = { ...query(url), disposition: 'inline' };
    expect(await status(storage.open(KEY, tampered))).toBe(403);
    expect(await status(storage.open('attachments/../../etc/passwd', query(url)))).toBe(403);
    await storage.delete([KEY]);
    expect(await status(storage.open(KEY, query(url)))).toBe(404);
  });

  it('shares its signing key with another process on the same data dir', async () => {
    const other = new LocalStorage(loadConfig({ CARIOS_DATA_DIR: dir, CARIOS_PORT: '8123' }));
    const up = await other.presignUpload(KEY, 'text/plain', 1, 60);
    expect(
      await status(
        storage.receive(
          KEY,
          query(up.url),
          { contentType: 'text/plain', contentLength: '1' },
          Readable.from(['x']),
        ),
      ),
    ).toBe('ok');
  });
});
