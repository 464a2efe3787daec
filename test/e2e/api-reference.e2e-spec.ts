import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { GATEWAY_DISPATCH } from '@cariosan/core';
import { Api, registerUser } from '../support/api';
import { createChannel, postMessage } from '../support/chat';
import { GatewayClient } from '../support/gateway-client';
import { MountedRoute, mountedRoutes, pathParams, routeKey, toOpenApiPath } from '../support/routes';
import { startStack, TestStack } from '../support/server';

/**
 * The reference a client author reads must be the server they talk to: docs/api.md's route table
 * against the routes the server mounts, the OpenAPI document against the same routes (validated
 * by swagger-parser), the AsyncAPI document (validated by @asyncapi/parser) against the frames
 * the gateway really sends, and docs/gateway.md against the dispatch types the code has.
 */

const ROOT = resolve(__dirname, '../..');
/** Served by Swagger itself, not by a controller, so Nest does not log them. */
const DOCUMENT_ROUTES: MountedRoute[] = [
  { method: 'GET', path: '/api/v1/openapi.json' },
  { method: 'GET', path: '/api/docs' },
];

type Operation = {
  summary?: string;
  security?: unknown[];
  parameters?: { name: string; in: string; schema?: { type?: string } }[];
  requestBody?: unknown;
  responses: Record<string, { content?: Record<string, { schema?: unknown }> }>;
};
type OpenApi = { openapi: string; paths: Record<string, Record<string, Operation>>; components: any };

/** Runs test/support/contracts.mjs (the validators are ES modules, out of Jest's reach). */
function contracts(
  kind: 'openapi' | 'dereference' | 'asyncapi',
  document: unknown,
): {
  ok: boolean;
  errors: string[];
  document?: unknown;
  version?: string;
} {
  const dir = mkdtempSync(join(tmpdir(), 'cariosan-contract-'));
  try {
    writeFileSync(join(dir, 'doc.json'), JSON.stringify(document));
    const out = execFileSync(
      process.execPath,
      [join(__dirname, '../support/contracts.mjs'), kind, join(dir, 'doc.json')],
      {
        cwd: ROOT,
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    return JSON.parse(out) as ReturnType<typeof contracts>;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The rows of the table under `## Routes` in docs/api.md, as `METHOD /path`. */
function documentedRoutes(): string[] {
  const md = readFileSync(resolve(ROOT, 'docs/api.md'), 'utf8');
  const section = md.slice(md.indexOf('\n## Routes'), md.indexOf('\n## ', md.indexOf('\n## Routes') + 1));
  return [...section.matchAll(/^\| `(GET|POST|PUT|PATCH|DELETE) (\/\S*)` +\|/gm)].map(
    (m) => `${m[1]} ${m[2]}`,
  );
}

describe('API reference', () => {
  let stack: TestStack;
  let api: Api;
  let mounted: MountedRoute[];
  let doc: OpenApi;

  beforeAll(async () => {
    stack = await startStack(1, { env: { CARIOS_LOG_LEVEL: 'info' } });
    api = new Api(stack.servers[0]!.url);
    mounted = [...mountedRoutes(stack.servers[0]!.output()), ...DOCUMENT_ROUTES];
    doc = (await api.get('/api/v1/openapi.json')).body as OpenApi;
  });
  afterAll(() => stack.close());

  it('mounts what docs/api.md lists, no more and no less', async () => {
    expect(mounted.length).toBeGreaterThan(30);
    expect(documentedRoutes().sort()).toEqual(mounted.map(routeKey).sort());
    for (const r of DOCUMENT_ROUTES) expect((await api.get(r.path)).status).toBe(200);
  });

  it('serves an OpenAPI document that a validator accepts and that covers exactly the mounted routes', async () => {
    expect(contracts('openapi', doc)).toEqual({ ok: true, errors: [] });
    expect(doc.openapi).toMatch(/^3\.0\./);
    const inDoc = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
    );
    expect(inDoc.sort()).toEqual(mounted.map((r) => `${r.method} ${toOpenApiPath(r.path)}`).sort());
  });

  it('describes auth as an opaque bearer token, required unless the route is public', () => {
    expect(doc.components.securitySchemes).toEqual({
      bearer: expect.objectContaining({ type: 'http', scheme: 'bearer', bearerFormat: 'opaque' }),
    });
    expect((doc as unknown as { security: unknown }).security).toEqual([{ bearer: [] }]);
    const publicOps = Object.entries(doc.paths)
      .flatMap(([path, ops]) =>
        Object.entries(ops).map(([m, op]) => [`${m.toUpperCase()} ${path}`, op] as const),
      )
      .filter(([, op]) => Array.isArray(op.security) && op.security.length === 0)
      .map(([key]) => key)
      .sort();
    expect(publicOps).toEqual(
      [
        'GET /healthz',
        'GET /readyz',
        'GET /metrics',
        'GET /api/v1/openapi.json',
        'GET /api/docs',
        'GET /api/v1/asyncapi.json',
        'POST /api/v1/auth/register',
        'POST /api/v1/auth/login',
        // The local-disk adapter's object URLs: their signature is the credential.
        'PUT /uploads/attachments/{name}',
        'GET /uploads/attachments/{name}',
        'POST /hooks/{id}/{token}',
      ].sort(),
    );
  });

  it('gives every operation a summary, typed parameters and the errors its shape implies', () => {
    const problems: string[] = [];
    for (const route of mounted) {
      const path = toOpenApiPath(route.path);
      const op = doc.paths[path]?.[route.method.toLowerCase()];
      const key = routeKey(route);
      if (!op) continue; // reported by the coverage test
      const statuses = Object.keys(op.responses);
      const need = (status: string, why: string) => {
        if (!statuses.includes(status)) problems.push(`${key}: no ${status} (${why})`);
      };
      if (!op.summary) problems.push(`${key}: no summary`);
      for (const p of op.parameters ?? [])
        if (!p.schema?.type) problems.push(`${key}: parameter ${p.name} untyped`);
      const declared = (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name);
      if (declared.sort().join() !== pathParams(route.path).sort().join()) {
        problems.push(`${key}: path parameters ${declared.join()} in the document`);
      }
      const isPublic = Array.isArray(op.security) && op.security.length === 0;
      if (!isPublic) need('401', 'needs a token');
      if (op.requestBody) ['400', '413', '415'].forEach((s) => need(s, 'takes a body'));
      if ((op.parameters ?? []).some((p) => p.in === 'query')) need('400', 'takes a query');
      if (pathParams(route.path).length) need('404', 'has path ids');
      if (route.path.startsWith('/api/v1/')) need('429', 'is rate limited');
      for (const [status, response] of Object.entries(op.responses)) {
        const schema = response.content?.['application/json']?.schema as { $ref?: string } | undefined;
        if (Number(status) >= 400 && schema?.$ref !== '#/components/schemas/Error') {
          problems.push(`${key}: ${status} is not the Error schema`);
        }
      }
    }
    expect(problems).toEqual([]);
    // The route-specific errors the contract names.
    const responses = (method: string, path: string) => Object.keys(doc.paths[path]![method]!.responses);
    expect(responses('post', '/api/v1/auth/register')).toEqual(expect.arrayContaining(['403', '409']));
    expect(responses('post', '/api/v1/channels/{id}/messages')).toEqual(
      expect.arrayContaining(['200', '201', '403', '404', '422', '503']),
    );
    expect(responses('get', '/readyz')).toEqual(expect.arrayContaining(['200', '503']));
  });

  it('describes the REST answers the server really gives', async () => {
    const deref = contracts('dereference', doc).document as OpenApi;
    // contracts() blocks this process for seconds (execFileSync): let fetch drop the keep-alive
    // sockets the server closed meanwhile before the next request, or it may reuse one ("other side closed").
    await new Promise((r) => setTimeout(r, 100));
    const ajv = new Ajv({ strict: false, allErrors: true });
    const check = (method: string, path: string, status: number, body: unknown) => {
      const schema =
        deref.paths[path]![method]!.responses[String(status)]!.content!['application/json']!.schema;
      const validate = ajv.compile(schema as object);
      expect({
        route: `${method} ${path} ${status}`,
        ok: validate(body),
        errors: validate.errors ?? null,
      }).toEqual({
        route: `${method} ${path} ${status}`,
        ok: true,
        errors: null,
      });
    };
    const ada = await registerUser(api);
    const channel = await createChannel(ada);
    const message = await postMessage(ada, channel.id, 'hi');
    const mine = await ada.api.get('/api/v1/channels');
    const members = await ada.api.get(`/api/v1/channels/${channel.id}/members`);
    const history = await ada.api.get(`/api/v1/channels/${channel.id}/messages`);
    const missing = await ada.api.get('/api/v1/users/1');
    check('get', '/api/v1/users/@me', 200, (await ada.api.get('/api/v1/users/@me')).body);
    check('post', '/api/v1/channels', 201, channel);
    check('get', '/api/v1/channels', 200, mine.body);
    check('get', '/api/v1/channels/{id}/members', 200, members.body);
    check('post', '/api/v1/channels/{id}/messages', 201, message);
    check('get', '/api/v1/channels/{id}/messages', 200, history.body);
    check('get', '/api/v1/users/{id}', 404, missing.body);
    check('get', '/healthz', 200, (await api.get('/healthz')).body);
    check('get', '/readyz', 200, (await api.get('/readyz')).body);
  });

  describe('the gateway', () => {
    let asyncapi: Record<string, any>;

    beforeAll(async () => {
      asyncapi = (await api.get('/api/v1/asyncapi.json')).body as Record<string, any>;
    });

    it('serves an AsyncAPI 3 document that @asyncapi/parser accepts', async () => {
      expect(contracts('asyncapi', asyncapi)).toEqual({ ok: true, errors: [], version: '3.0.0' });
    });

    it('has a message for every dispatch type of the event map, READY and RESUMED', () => {
      const messages = Object.keys(asyncapi.components.messages as object);
      expect(messages).toEqual(
        expect.arrayContaining([...Object.values(GATEWAY_DISPATCH), 'READY', 'RESUMED', 'PRESENCE_UPDATE']),
      );
      expect(messages).toEqual(
        expect.arrayContaining(['HELLO', 'IDENTIFY', 'RESUME', 'HEARTBEAT', 'HEARTBEAT_ACK']),
      );
    });

    it('describes the frames the gateway really sends', async () => {
      const ajv = new Ajv({ strict: false, allErrors: true });
      addFormats(ajv);
      const ada = await registerUser(api);
      const grace = await registerUser(api);
      const client = await GatewayClient.connect(api.baseUrl);
      try {
        await client.identify(ada.token);
        // One of each event the code has today, as a client would cause them.
        const channel = await createChannel(ada);
        await client.waitFor((f) => f.t === 'CHANNEL_CREATE');
        const root = await postMessage(ada, channel.id, 'hello @nobody');
        await ada.api.patch(`/api/v1/channels/${channel.id}/messages/${root.id}`, { content: 'edited' });
        const thumbs = encodeURIComponent('👍');
        await ada.api.put(`/api/v1/channels/${channel.id}/messages/${root.id}/reactions/${thumbs}/@me`);
        await ada.api.delete(`/api/v1/channels/${channel.id}/messages/${root.id}/reactions/${thumbs}/@me`);
        await ada.api.post(`/api/v1/channels/${channel.id}/typing`);
        await grace.api.put(`/api/v1/channels/${channel.id}/members/@me`);
        await grace.api.delete(`/api/v1/channels/${channel.id}/members/@me`);
        await ada.api.patch(`/api/v1/channels/${channel.id}`, { topic: 'new topic' });
        await ada.api.delete(`/api/v1/channels/${channel.id}/messages/${root.id}`);
        await ada.api.delete(`/api/v1/channels/${channel.id}`);
        await client.waitFor((f) => f.t === 'CHANNEL_DELETE');
        client.send({ op: 'HEARTBEAT', d: { seq: client.lastSeq } });
        await client.waitFor((f) => f.op === 'HEARTBEAT_ACK');

        const seen = new Set<string>();
        const wrong: string[] = [];
        for (const frame of client.frames) {
          const name = frame.op === 'DISPATCH' ? frame.t! : frame.op;
          const message = asyncapi.components.messages[name];
          if (!message) {
            wrong.push(`${name}: not in the document`);
            continue;
          }
          const validate = ajv.compile(message.payload as object);
          if (!validate(frame))
            wrong.push(`${name}: ${ajv.errorsText(validate.errors)} in ${JSON.stringify(frame)}`);
          seen.add(name);
        }
        expect(wrong).toEqual([]);
        expect([...seen].sort()).toEqual(
          ['HELLO', 'HEARTBEAT_ACK', 'READY', ...Object.values(GATEWAY_DISPATCH)].sort(),
        );
      } finally {
        client.terminate();
      }
    });

    it('has every dispatch type written up in docs/gateway.md with an example frame', () => {
      const md = readFileSync(resolve(ROOT, 'docs/gateway.md'), 'utf8');
      for (const type of ['READY', 'RESUMED', 'PRESENCE_UPDATE', ...Object.values(GATEWAY_DISPATCH)]) {
        expect({ type, heading: new RegExp(`^### \`${type}\``, 'm').test(md) }).toEqual({
          type,
          heading: true,
        });
        expect({ type, example: new RegExp(`"t":\\s*"${type}"`).test(md) }).toEqual({ type, example: true });
      }
    });
  });
});
