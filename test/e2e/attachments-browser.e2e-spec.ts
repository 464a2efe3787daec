import { existsSync, mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { Api, registerUser, TestUser } from '../support/api';
import { createChannel } from '../support/chat';
import { startS3, TestS3 } from '../support/s3';
import { startStack, TestStack } from '../support/server';

/** Debian's Chromium (apt-get install chromium; .ci/run installs it): never a downloaded browser. */
const CHROMIUM = '/usr/bin/chromium';
const describeWithChromium = existsSync(CHROMIUM) ? describe : describe.skip;

/** The web client's page: served on its own origin, it talks to the API on another one. */
const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>Cariosan upload</title></head>
<body><h1>Attachment test client</h1><pre id="log">waiting</pre></body></html>`;

interface Outcome {
  slotStatus: number;
  putStatus: number;
  postStatus: number;
  downloadStatus: number;
  downloaded: string;
  message: { attachments: { id: string; filename: string; size: number; url: string }[] };
  timings: Record<string, number>;
}

/**
 * The client code a web app would run, the same for S3 and for the local-disk adapter: ask for a
 * slot, PUT the file exactly as told, post the message, download through the attachment's url.
 */
async function clientFlow(args: {
  api: string;
  token: string;
  channelId: string;
  text: string;
}): Promise<Outcome> {
  const t0 = performance.now();
  const auth = { Authorization: `Bearer ${args.token}`, 'Content-Type': 'application/json' };
  const file = new File([args.text], 'hello from the browser.txt', { type: 'text/plain' });
  const slotRes = await fetch(`${args.api}/api/v1/attachments`, {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({ filename: file.name, contentType: file.type, size: file.size }),
  });
  const slot = (await slotRes.json()) as {
    id: string;
    upload: { url: string; method: string; headers: Record<string, string> };
  };
  const t1 = performance.now();
  const put = await fetch(slot.upload.url, {
    method: slot.upload.method,
    headers: slot.upload.headers,
    body: file,
  });
  const t2 = performance.now();
  const postRes = await fetch(`${args.api}/api/v1/channels/${args.channelId}/messages`, {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({ content: '', attachmentIds: [slot.id] }),
  });
  const message = (await postRes.json()) as Outcome['message'];
  const t3 = performance.now();
  const download = await fetch(message.attachments[0]!.url);
  const downloaded = await download.text();
  const t4 = performance.now();
  // Runs in the page (the test's tsconfig has no DOM types).
  const doc = (globalThis as unknown as { document: { getElementById(id: string): { textContent: string } } })
    .document;
  doc.getElementById('log').textContent =
    `slot ${slotRes.status}, PUT ${put.status}, post ${postRes.status}, GET ${download.status}\n` +
    `downloaded: ${downloaded}\nfrom: ${new URL(message.attachments[0]!.url).origin}`;
  return {
    slotStatus: slotRes.status,
    putStatus: put.status,
    postStatus: postRes.status,
    downloadStatus: download.status,
    downloaded,
    message,
    timings: { slot: t1 - t0, put: t2 - t1, post: t3 - t2, download: t4 - t3, total: t4 - t0 },
  };
}

describeWithChromium('a browser on another origin attaches a file', () => {
  let browser: Browser;
  let page: Server;
  let pageOrigin: string;

  beforeAll(async () => {
    page = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE));
    await new Promise<void>((res) => page.listen(0, '127.0.0.1', () => res()));
    pageOrigin = `http://127.0.0.1:${(page.address() as { port: number }).port}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await new Promise((res) => page?.close(res));
  });

  describe.each(['s3', 'local'] as const)('with the %s adapter', (adapter) => {
    let s3: TestS3 | undefined;
    let stack: TestStack;
    let user: TestUser;
    let channelId: string;

    beforeAll(async () => {
      if (adapter === 's3') s3 = await startS3();
      stack = await startStack(1, { env: { ...(s3?.env ?? {}), CARIOS_CORS_ORIGINS: pageOrigin } });
      user = await registerUser(new Api(stack.servers[0]!.url));
      channelId = (await createChannel(user, 'private')).id;
    });
    afterAll(async () => {
      await stack?.close();
      await s3?.close();
    });

    it('uploads straight to the store, posts the message and downloads the same bytes', async () => {
      const tab = await browser.newPage();
      const errors: string[] = [];
      tab.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      try {
        await tab.goto(pageOrigin);
        const api = stack.servers[0]!.url;
        expect(new URL(api).origin).not.toBe(pageOrigin);
        const text = `bytes from ${adapter} ${Date.now()} ✓`;
        const out = await tab.evaluate(clientFlow, { api, token: user.token, channelId, text });
        expect(errors).toEqual([]);
        expect(out).toMatchObject({ slotStatus: 201, putStatus: 200, postStatus: 201, downloadStatus: 200 });
        expect(out.downloaded).toBe(text);
        expect(out.message.attachments).toEqual([
          {
            id: expect.any(String),
            filename: 'hello from the browser.txt',
            contentType: 'text/plain',
            size: Buffer.byteLength(text),
            url: expect.any(String),
          },
        ]);
        const uploadOrigin = new URL(out.message.attachments[0]!.url).origin;
        expect(uploadOrigin).toBe(adapter === 's3' ? s3!.publicEndpoint : api);
        const dir =
          process.env.CARIOS_TEST_SCREENSHOT_DIR ?? mkdtempSync(join(tmpdir(), 'cariosan-browser-'));
        const shot = join(dir, `attachments-browser-${adapter}.png`);
        await tab.screenshot({ path: shot });
        const ms = Object.entries(out.timings)
          .map(([k, v]) => `${k} ${v.toFixed(1)} ms`)
          .join(', ');
        process.stdout.write(`browser upload flow (${adapter}): ${ms}; screenshot ${shot}\n`);
      } finally {
        await tab.close();
      }
    });
  });
});
