import { Api, expectError, registerUser, TestUser } from '../support/api';
import { createChannel } from '../support/chat';
import { startS3, TestS3 } from '../support/s3';
import { startStack, TestStack } from '../support/server';
import { eventually } from '../support/wait';

async function uploadedSlot(user: TestUser, body: string): Promise<string> {
  const res = await user.api.post('/api/v1/attachments', {
    filename: 'f.txt',
    contentType: 'text/plain',
    size: Buffer.byteLength(body),
  });
  if (res.status !== 201) throw new Error(`slot: ${res.status} ${res.text}`);
  const { url, method, headers } = res.body.upload as {
    url: string;
    method: string;
    headers: Record<string, string>;
  };
  const put = await fetch(url, { method, headers, body });
  if (put.status !== 200) throw new Error(`upload: ${put.status}`);
  return res.body.id as string;
}

describe('attachments when object storage fails', () => {
  let s3: TestS3;
  let stack: TestStack;
  let api: Api;
  let user: TestUser;
  let base: string;

  beforeAll(async () => {
    s3 = await startS3();
    stack = await startStack(1, { env: s3.env });
    api = new Api(stack.servers[0]!.url);
    user = await registerUser(api);
    base = `/api/v1/channels/${(await createChannel(user, 'private')).id}/messages`;
  });
  afterAll(async () => {
    await stack?.close();
    await s3?.close();
  });
  afterEach(() => s3.setMode('pass'));

  it.each(['stall', 'refuse'] as const)(
    'answers 503 (never 500) while S3 does not answer (%s), and recovers by itself',
    async (mode) => {
      const id = await uploadedSlot(user, 'bytes');
      s3.setMode(mode);
      const started = Date.now();
      const res = await user.api.post(base, { content: 'x', attachmentIds: [id] });
      expectError(res, 503, 'unavailable');
      expect(res.headers.get('retry-after')).toBe('1');
      // Bounded by the store's timeouts, not by the test's.
      expect(Date.now() - started).toBeLessThan(15_000);
      const ready = await api.get('/readyz');
      expectError(ready, 503, 'unavailable');
      expect(ready.body.error.details).toEqual(
        expect.arrayContaining([expect.objectContaining({ check: 'storage', status: 'down' })]),
      );
      // Nothing was written: the channel's history has no message with that attachment.
      expect((await user.api.get(base)).body).toEqual([]);
      // Other routes are unaffected: signing URLs needs no request to the store.
      expect((await user.api.post(base, { content: 'text only' })).status).toBe(201);
      expect(
        (await user.api.post('/api/v1/attachments', { filename: 'a', contentType: 'text/plain', size: 1 }))
          .status,
      ).toBe(201);

      s3.setMode('pass');
      await eventually(async () => (await api.get('/readyz')).status === 200, 'readiness to come back');
      const posted = await user.api.post(base, { content: 'x', attachmentIds: [id] });
      expect(posted.status).toBe(201);
      expect(posted.body.attachments[0].id).toBe(id);
      await user.api.delete(`${base}/${posted.body.id}`);
      const text = await user.api.get(base);
      for (const m of text.body as { id: string }[]) await user.api.delete(`${base}/${m.id}`);
    },
  );
});

describe('the upload sweep', () => {
  let s3: TestS3;
  let stack: TestStack;
  let user: TestUser;

  beforeAll(async () => {
    s3 = await startS3();
    // Two replicas sweep the same database; one at a time works (advisory lock).
    stack = await startStack(0, { env: { ...s3.env, CARIOS_UPLOAD_GRACE_PERIOD: '2s' } });
    await stack.start();
    if (process.env.CARIOS_TEST_DATABASE_URL) await stack.start();
    user = await registerUser(new Api(stack.servers[0]!.url));
  });
  afterAll(async () => {
    await stack?.close();
    await s3?.close();
  });
  afterEach(() => s3.setMode('pass'));

  it('deletes uploads never attached after the grace period, and keeps attached ones', async () => {
    const channel = await createChannel(user, 'private');
    const base = `/api/v1/channels/${channel.id}/messages`;
    const kept = await uploadedSlot(user, 'kept');
    const posted = await user.api.post(base, { content: 'x', attachmentIds: [kept] });
    expect(posted.status).toBe(201);
    const lonely = await uploadedSlot(user, 'lonely');
    const keyOf = async (id: string) =>
      new URL((await user.api.get(`/api/v1/attachments/${id}`)).body.url as string).pathname.replace(
        /^\/[^/]+\//,
        '',
      );
    const lonelyKey = await keyOf(lonely);
    const keptKey = await keyOf(kept);
    expect((await s3.object(lonelyKey))?.toString()).toBe('lonely');
    await eventually(
      async () => (await user.api.get(`/api/v1/attachments/${lonely}`)).status === 404,
      'the unattached upload to be swept',
      15_000,
    );
    expect(await s3.object(lonelyKey)).toBeUndefined();
    expectError(
      await user.api.post(base, { content: 'x', attachmentIds: [lonely] }),
      400,
      'validation_failed',
    );
    expect((await s3.object(keptKey))?.toString()).toBe('kept');
    expect((await user.api.get(`/api/v1/attachments/${kept}`)).status).toBe(200);
  });

  it('keeps a deleted message’s objects for the sweep when the store is down, then deletes them', async () => {
    const base = `/api/v1/channels/${(await createChannel(user, 'private')).id}/messages`;
    const body = 'orphan-to-be';
    const id = await uploadedSlot(user, body);
    const posted = await user.api.post(base, { content: 'x', attachmentIds: [id] });
    const key = new URL(posted.body.attachments[0].url as string).pathname.replace(/^\/[^/]+\//, '');
    s3.setMode('refuse');
    expect((await user.api.delete(`${base}/${posted.body.id}`)).status).toBe(204);
    await new Promise((r) => setTimeout(r, 2500));
    expect((await s3.object(key))?.toString()).toBe(body);
    s3.setMode('pass');
    await eventually(
      async () => (await s3.object(key)) === undefined,
      'the sweep to delete the object',
      15_000,
    );
  });
});

describe('CORS for browsers on other origins', () => {
  let stack: TestStack;
  let url: string;

  beforeAll(async () => {
    stack = await startStack(1, { env: { CARIOS_CORS_ORIGINS: 'https://Chat.Example.com/' } });
    url = stack.servers[0]!.url;
  });
  afterAll(() => stack?.close());

  it('answers preflights for configured origins and exposes the rate-limit and request-id headers', async () => {
    const pre = await fetch(`${url}/api/v1/attachments`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://chat.example.com',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('https://chat.example.com');
    expect(pre.headers.get('access-control-allow-methods')).toContain('POST');
    expect(pre.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');

    const res = await fetch(`${url}/api/v1/users/@me`, { headers: { origin: 'https://chat.example.com' } });
    expect(res.status).toBe(401);
    expect(res.headers.get('access-control-allow-origin')).toBe('https://chat.example.com');
    const exposed = res.headers.get('access-control-expose-headers')?.toLowerCase() ?? '';
    for (const h of [
      'ratelimit-limit',
      'ratelimit-remaining',
      'ratelimit-reset',
      'retry-after',
      'x-request-id',
    ])
      expect(exposed).toContain(h);
  });

  it('gives other origins no CORS headers', async () => {
    const pre = await fetch(`${url}/api/v1/attachments`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(pre.headers.get('access-control-allow-origin')).toBeNull();
    const res = await fetch(`${url}/healthz`, { headers: { origin: 'https://evil.example' } });
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });
});
