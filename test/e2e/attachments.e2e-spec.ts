import { Api, ApiResponse, expectError, registerUser, TestUser } from '../support/api';
import { createChannel } from '../support/chat';
import { GatewayClient } from '../support/gateway-client';
import { startS3, TestS3 } from '../support/s3';
import { startStack, TestStack } from '../support/server';
import { eventually } from '../support/wait';
import { WebhookReceiver } from '../support/webhook-receiver';

interface Slot {
  id: string;
  filename: string;
  contentType: string;
  size: number;
  upload: { url: string; method: 'PUT'; headers: Record<string, string>; expiresAt: string };
}

const MAX_UPLOAD = 4096;

async function slot(user: TestUser, filename: string, contentType: string, size: number): Promise<Slot> {
  const res = await user.api.post('/api/v1/attachments', { filename, contentType, size });
  if (res.status !== 201) throw new Error(`slot: ${res.status} ${res.text}`);
  return res.body as Slot;
}

/** What a browser does with the slot: exactly its method, URL and headers (Content-Length from the body). */
function put(s: Slot, body: Buffer | string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(s.upload.url, { method: s.upload.method, headers: { ...s.upload.headers, ...headers }, body });
}

async function uploaded(user: TestUser, filename: string, contentType: string, body: string): Promise<Slot> {
  const s = await slot(user, filename, contentType, Buffer.byteLength(body));
  const r = await put(s, body);
  if (r.status !== 200) throw new Error(`upload: ${r.status} ${await r.text()}`);
  return s;
}

async function download(url: string): Promise<{ status: number; body: string; headers: Headers }> {
  const r = await fetch(url);
  return { status: r.status, body: await r.text(), headers: r.headers };
}

function expectFieldError(res: ApiResponse, field: string, message: RegExp): void {
  expectError(res, 400, 'validation_failed');
  expect(res.body.error.details).toEqual([{ field, message: expect.stringMatching(message) }]);
}

describe.each(['s3', 'local'] as const)('attachments (%s adapter)', (adapter) => {
  let s3: TestS3 | undefined;
  let stack: TestStack;
  let api: Api;
  let owner: TestUser;
  let member: TestUser;
  let outsider: TestUser;
  let privateId: string;
  let publicId: string;
  let publicUrl: string;

  beforeAll(async () => {
    if (adapter === 's3') s3 = await startS3();
    stack = await startStack(1, {
      env: {
        ...(s3?.env ?? {}),
        CARIOS_MAX_UPLOAD_BYTES: String(MAX_UPLOAD),
        // For the webhook test: a loopback receiver, retried quickly.
        CARIOS_WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
        CARIOS_WEBHOOK_RETRY_SCHEDULE: '200ms,200ms,500ms',
      },
    });
    // Without CARIOS_PUBLIC_URL, the local adapter's URLs name http://CARIOS_HOST:CARIOS_PORT.
    publicUrl = stack.servers[0]!.url;
    api = new Api(stack.servers[0]!.url);
    owner = await registerUser(api);
    member = await registerUser(api);
    outsider = await registerUser(api);
    privateId = (await createChannel(owner, 'private')).id;
    publicId = (await createChannel(owner, 'public')).id;
    await owner.api.put(`/api/v1/channels/${privateId}/members/${member.id}`);
  });
  afterAll(async () => {
    await stack?.close();
    await s3?.close();
  });

  it('hands out an upload slot bound to size and type, on the public endpoint, expiring within 15 minutes', async () => {
    const before = Date.now();
    const s = await slot(member, '../../etc/passwd?.txt', 'text/plain', 5);
    expect(s).toEqual({
      id: expect.stringMatching(/^\d+$/),
      filename: 'passwd_.txt',
      contentType: 'text/plain',
      size: 5,
      upload: {
        url: expect.any(String),
        method: 'PUT',
        headers: { 'Content-Type': 'text/plain' },
        expiresAt: expect.any(String),
      },
    });
    const expires = Date.parse(s.upload.expiresAt) - before;
    expect(expires).toBeGreaterThan(60_000);
    expect(expires).toBeLessThanOrEqual(15 * 60_000);
    const url = new URL(s.upload.url);
    // The key is the server's, never the client's name.
    expect(url.pathname).toMatch(/\/attachments\/[0-9a-f]{32}$/);
    expect(url.pathname).not.toContain('pass');
    if (adapter === 's3') {
      expect(url.origin).toBe(s3!.publicEndpoint);
      expect(url.pathname.startsWith('/cariosan-test/')).toBe(true); // path-style
      expect(Number(url.searchParams.get('X-Amz-Expires'))).toBeLessThanOrEqual(900);
      expect(url.searchParams.get('X-Amz-SignedHeaders')?.split(';')).toEqual(
        expect.arrayContaining(['content-length', 'content-type', 'host']),
      );
      expect(url.searchParams.get('X-Amz-Credential')).toMatch(
        /^S3RVER\/\d{8}\/us-east-1\/s3\/aws4_request$/,
      );
    } else {
      expect(url.origin).toBe(publicUrl);
      expect(url.searchParams.get('size')).toBe('5');
      expect(url.searchParams.get('type')).toBe('text/plain');
    }
  });

  it('validates the slot request: size above the maximum is 413, bad fields 400', async () => {
    expectError(
      await member.api.post('/api/v1/attachments', {
        filename: 'a',
        contentType: 'text/plain',
        size: MAX_UPLOAD + 1,
      }),
      413,
      'payload_too_large',
    );
    expectError(
      await member.api.post('/api/v1/attachments', { filename: 'a', contentType: 'not a type', size: 1 }),
      400,
      'validation_failed',
    );
    expectError(
      await member.api.post('/api/v1/attachments', { filename: '', contentType: 'text/plain', size: 1 }),
      400,
      'validation_failed',
    );
    expectError(
      await member.api.post('/api/v1/attachments', { filename: 'a', contentType: 'text/plain', size: -1 }),
      400,
      'validation_failed',
    );
    expectError(
      await api.post('/api/v1/attachments', { filename: 'a', contentType: 'text/plain', size: 1 }),
      401,
    );
  });

  it('attaches a verified upload; members read it with a fresh URL, others cannot', async () => {
    const gw = await GatewayClient.connect(api.baseUrl);
    await gw.identify(owner.token);
    const s = await uploaded(member, 'notes.txt', 'text/plain', 'hello, attachment');
    const base = `/api/v1/channels/${privateId}/messages`;
    const posted = await member.api.post(base, { content: '', attachmentIds: [s.id], nonce: 'att-1' });
    expect(posted.status).toBe(201);
    const [att] = posted.body.attachments;
    expect(att).toEqual({
      id: s.id,
      filename: 'notes.txt',
      contentType: 'text/plain',
      size: 17,
      url: expect.any(String),
    });
    expect(posted.text).not.toContain('"key"');
    expect(posted.body.content).toBe('');
    const got = await download(att.url);
    expect(got.status).toBe(200);
    expect(got.body).toBe('hello, attachment');
    expect(got.headers.get('content-disposition')).toMatch(/^inline; filename="notes.txt"/);
    if (adapter === 's3') expect(new URL(att.url).origin).toBe(s3!.publicEndpoint);

    // The same attachment in history, the single message, the live frame and GET /attachments/:id.
    const history = await owner.api.get(base);
    expect(history.body[0].attachments).toEqual([{ ...att, url: expect.any(String) }]);
    expect((await download(history.body[0].attachments[0].url)).body).toBe('hello, attachment');
    expect((await owner.api.get(`${base}/${posted.body.id}`)).body.attachments[0].id).toBe(s.id);
    const frame = await gw.waitFor((f) => f.t === 'MESSAGE_CREATE' && f.d.id === posted.body.id);
    expect(frame.d.attachments).toEqual([{ ...att, url: expect.any(String) }]);
    expect(JSON.stringify(frame.d)).not.toContain('"key"');
    expect((await download(frame.d.attachments[0].url)).body).toBe('hello, attachment');

    const one = await owner.api.get(`/api/v1/attachments/${s.id}`);
    expect(one.status).toBe(200);
    expect(one.body).toEqual({ ...att, url: expect.any(String) });
    expectError(await outsider.api.get(`/api/v1/attachments/${s.id}`), 404, 'not_found');
    expectError(await outsider.api.get('/api/v1/attachments/nope'), 404, 'not_found');

    // A retry with the same nonce and attachments is the same message; other attachments: 422.
    const retry = await member.api.post(base, { content: '', attachmentIds: [s.id], nonce: 'att-1' });
    expect(retry.status).toBe(200);
    expect(retry.body.id).toBe(posted.body.id);
    const other = await uploaded(member, 'b.txt', 'text/plain', 'b');
    expectError(
      await member.api.post(base, { content: '', attachmentIds: [other.id], nonce: 'att-1' }),
      422,
      'idempotency_mismatch',
    );
    expectError(await member.api.post(base, { content: 'x', nonce: 'att-1' }), 422, 'idempotency_mismatch');
    // An edit keeps the attachments; its event gets fresh URLs too.
    const edited = await member.api.patch(`${base}/${posted.body.id}`, { content: 'now with words' });
    expect(edited.status).toBe(200);
    expect(edited.body.attachments).toEqual([{ ...att, url: expect.any(String) }]);
    const update = await gw.waitFor((f) => f.t === 'MESSAGE_UPDATE' && f.d.id === posted.body.id);
    expect(update.d.attachments).toEqual([{ ...att, url: expect.any(String) }]);
    expect((await download(update.d.attachments[0].url)).body).toBe('hello, attachment');
    gw.ws.close();
  });

  it('refuses a non-member of a public channel (403) and an unattached upload of someone else (404)', async () => {
    const s = await uploaded(owner, 'pub.txt', 'text/plain', 'public');
    expectError(await member.api.get(`/api/v1/attachments/${s.id}`), 404, 'not_found');
    expect((await owner.api.get(`/api/v1/attachments/${s.id}`)).status).toBe(200);
    const posted = await owner.api.post(`/api/v1/channels/${publicId}/messages`, {
      content: 'see file',
      attachmentIds: [s.id],
    });
    expect(posted.status).toBe(201);
    expectError(await outsider.api.get(`/api/v1/attachments/${s.id}`), 403, 'forbidden');
  });

  it('refuses a wrong size, a wrong type, someone else’s, an attached and a missing upload', async () => {
    const base = `/api/v1/channels/${privateId}/messages`;
    // Wrong size: s3rver does not check signatures, so the store takes other bytes; HeadObject finds them.
    const short = await slot(member, 'short.txt', 'text/plain', 10);
    const wrongType = await slot(member, 'type.txt', 'text/plain', 3);
    if (adapter === 's3') {
      expect((await put(short, 'abc')).status).toBe(200);
      expect((await put(wrongType, 'abc', { 'Content-Type': 'text/html' })).status).toBe(200);
    } else {
      // The local adapter is the store: it refuses them itself.
      expect((await put(short, 'abc')).status).toBe(403);
      expect((await put(wrongType, 'abc', { 'Content-Type': 'text/html' })).status).toBe(403);
      expect((await put(wrongType, 'abcd')).status).toBe(403);
    }
    expectFieldError(
      await member.api.post(base, { content: 'x', attachmentIds: [short.id] }),
      'attachmentIds[0]',
      adapter === 's3' ? /holds 3 bytes, 10 were declared/ : /was not uploaded/,
    );
    expectFieldError(
      await member.api.post(base, { content: 'x', attachmentIds: [wrongType.id] }),
      'attachmentIds[0]',
      adapter === 's3' ? /stored as text\/html, text\/plain was declared/ : /was not uploaded/,
    );
    const others = await uploaded(owner, 'owner.txt', 'text/plain', 'mine');
    const ok = await uploaded(member, 'ok.txt', 'text/plain', 'ok');
    expectFieldError(
      await member.api.post(base, { content: 'x', attachmentIds: [ok.id, others.id] }),
      'attachmentIds[1]',
      /is not an upload of yours/,
    );
    const never = await slot(member, 'never.txt', 'text/plain', 2);
    expectFieldError(
      await member.api.post(base, { content: 'x', attachmentIds: [never.id] }),
      'attachmentIds[0]',
      /was not uploaded/,
    );
    expect((await member.api.post(base, { content: 'x', attachmentIds: [ok.id] })).status).toBe(201);
    expectFieldError(
      await member.api.post(base, { content: 'y', attachmentIds: [ok.id] }),
      'attachmentIds[0]',
      /already attached/,
    );
    expectFieldError(
      await member.api.post(base, { content: 'x', attachmentIds: ['123'] }),
      'attachmentIds[0]',
      /is not an upload of yours/,
    );
    expectFieldError(
      await member.api.post(base, { content: 'x', attachmentIds: [5] }),
      'attachmentIds[0]',
      /must be an attachment id/,
    );
    // Without attachments, content may not be empty.
    expectError(await member.api.post(base, { content: ' ' }), 400, 'validation_failed');
    // A non-member's upload never attaches to a channel they cannot write to.
    const outsiders = await uploaded(outsider, 'o.txt', 'text/plain', 'o');
    expectError(
      await outsider.api.post(base, { content: 'x', attachmentIds: [outsiders.id] }),
      404,
      'not_found',
    );
  });

  it('serves types a browser would execute as downloads (Content-Disposition: attachment)', async () => {
    const base = `/api/v1/channels/${privateId}/messages`;
    const html = await uploaded(member, 'page.html', 'text/html', '<script>alert(1)</script>');
    const svg = await uploaded(
      member,
      'pic.svg',
      'image/svg+xml',
      '<svg xmlns="http://www.w3.org/2000/svg"/>',
    );
    const png = await uploaded(member, 'pic.png', 'image/png', 'PNGDATA');
    const posted = await member.api.post(base, {
      content: 'files',
      attachmentIds: [html.id, svg.id, png.id],
    });
    expect(posted.status).toBe(201);
    const [h, s, p] = posted.body.attachments as { url: string }[];
    for (const a of [h!, s!]) {
      const got = await download(a.url);
      expect(got.status).toBe(200);
      expect(got.headers.get('content-disposition')).toMatch(/^attachment; filename=/);
    }
    expect((await download(p!.url)).headers.get('content-disposition')).toMatch(
      /^inline; filename="pic.png"/,
    );
    if (adapter === 's3') {
      expect(new URL(h!.url).searchParams.get('response-content-disposition')).toMatch(/^attachment;/);
      // Download URLs are short-lived: at least the resume window, at most an hour here.
      const ttl = Number(new URL(h!.url).searchParams.get('X-Amz-Expires'));
      expect(ttl).toBeGreaterThanOrEqual(120);
      expect(ttl).toBeLessThanOrEqual(3600);
    }
  });

  it('an outgoing webhook delivery carries working download URLs, made again for the retry', async () => {
    const receiver = await WebhookReceiver.start();
    try {
      const created = await owner.api.post('/api/v1/webhooks', {
        url: `${receiver.url}/att`,
        events: ['message.created'],
        channelIds: [privateId],
      });
      expect(created.status).toBe(201);
      receiver.secrets.set('/att', [created.body.secret]);
      receiver.answer = (_d, n) => (n === 1 ? 500 : 200);
      const s = await uploaded(member, 'hook.txt', 'text/plain', 'for the hook');
      const posted = await member.api.post(`/api/v1/channels/${privateId}/messages`, {
        content: 'hooked',
        attachmentIds: [s.id],
      });
      expect(posted.status).toBe(201);
      await eventually(async () => receiver.to('/att').length >= 2, 'a failed attempt and its retry');
      for (const d of receiver.to('/att').slice(0, 2)) {
        expect(d.verifiedWith).toEqual([created.body.secret]);
        expect(d.payload.data.id).toBe(posted.body.id);
        expect(d.payload.data.attachments).toEqual([
          { id: s.id, filename: 'hook.txt', contentType: 'text/plain', size: 12, url: expect.any(String) },
        ]);
        expect(d.body).not.toContain('"key"');
        const got = await download(d.payload.data.attachments[0].url);
        expect(got.status).toBe(200);
        expect(got.body).toBe('for the hook');
      }
    } finally {
      await receiver.close();
    }
  });

  it('deletes the objects of a deleted message', async () => {
    const base = `/api/v1/channels/${privateId}/messages`;
    const s = await uploaded(member, 'gone.txt', 'text/plain', 'soon gone');
    const posted = await member.api.post(base, { content: 'x', attachmentIds: [s.id] });
    const url = posted.body.attachments[0].url as string;
    expect((await download(url)).status).toBe(200);
    expect((await member.api.delete(`${base}/${posted.body.id}`)).status).toBe(204);
    await eventually(async () => (await download(url)).status === 404, 'the object to be deleted', 10_000);
    expectError(await member.api.get(`/api/v1/attachments/${s.id}`), 404, 'not_found');
  });

  it('reports object storage in /readyz', async () => {
    const ready = await api.get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.info.storage).toEqual({ status: 'up' });
  });
});
