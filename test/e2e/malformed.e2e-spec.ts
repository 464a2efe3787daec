import { connect } from 'node:net';
import { Api, ApiResponse, expectError, registerUser, TestUser, username } from '../support/api';
import { createChannel, postMessage } from '../support/chat';
import { MountedRoute, mountedRoutes, pathParams, routeKey, toOpenApiPath } from '../support/routes';
import { startStack, TestStack } from '../support/server';

/**
 * Hostile and sloppy input: every request gets a 4xx in the contract's error shape, never a 500
 * or a dropped connection, and the server keeps serving. The table below covers the auth and
 * users routes by hand; ids are fuzzed on every route the server mounts (read from its boot log),
 * so a new route with an id parameter is covered without touching this file.
 */

interface Case {
  name: string;
  method?: string;
  path: string;
  /** Serialised with JSON.stringify. */
  body?: unknown;
  /** Sent as is (string or bytes), instead of `body`. */
  raw?: string | Buffer;
  headers?: Record<string, string>;
  /** Send the test user's bearer token. */
  auth?: boolean;
  status: number;
  code?: string;
}

const REGISTER = '/api/v1/auth/register';
const LOGIN = '/api/v1/auth/login';
const ME = '/api/v1/users/@me';
const valid = () => ({ username: username('m'), password: 'password123' });
const utf8 = (s: string) => Buffer.from(s, 'utf8');

const cases: Case[] = [
  // Wrong types for strings.
  {
    name: 'username is a number',
    path: REGISTER,
    body: { username: 123, password: 'password123' },
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'username is an array',
    path: REGISTER,
    body: { username: ['abc'], password: 'password123' },
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'username is an object',
    path: REGISTER,
    body: { username: { a: 1 }, password: 'password123' },
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'username is null',
    path: REGISTER,
    body: { username: null, password: 'password123' },
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'password is a boolean',
    path: REGISTER,
    body: { username: 'someone', password: true },
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'password is a long number',
    path: REGISTER,
    body: { username: 'someone', password: 12345678901 },
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'displayName is a number',
    path: REGISTER,
    body: { ...valid(), displayName: 42 },
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'displayName is null on register',
    path: REGISTER,
    body: { ...valid(), displayName: null },
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'displayName is null on PATCH (was a 500)',
    method: 'PATCH',
    path: ME,
    auth: true,
    body: { displayName: null },
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'displayName is an array on PATCH',
    method: 'PATCH',
    path: ME,
    auth: true,
    body: { displayName: ['x'] },
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'login password is an object',
    path: LOGIN,
    body: { username: 'someone', password: { $ne: '' } },
    status: 400,
    code: 'validation_failed',
  },
  // Missing, extra and unknown fields.
  {
    name: 'password missing',
    path: REGISTER,
    body: { username: 'someone' },
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'username missing',
    path: LOGIN,
    body: { password: 'password123' },
    status: 400,
    code: 'validation_failed',
  },
  { name: 'empty object', path: REGISTER, body: {}, status: 400, code: 'validation_failed' },
  {
    name: 'unknown field isAdmin on register',
    path: REGISTER,
    body: { ...valid(), isAdmin: true },
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'unknown field on login',
    path: LOGIN,
    body: { username: 'someone', password: 'password123', remember: true },
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'PATCH of the username',
    method: 'PATCH',
    path: ME,
    auth: true,
    body: { username: 'other' },
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'PATCH of isAdmin',
    method: 'PATCH',
    path: ME,
    auth: true,
    body: { isAdmin: true },
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'unknown field __proto__ (slipped past the whitelist)',
    path: REGISTER,
    raw: `{"username":"${username('p')}","password":"password123","__proto__":{"isAdmin":true}}`,
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'unknown field constructor (slipped past the whitelist)',
    path: REGISTER,
    raw: `{"username":"${username('p')}","password":"password123","constructor":{"prototype":{}}}`,
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'unknown field hasOwnProperty (slipped past the whitelist)',
    method: 'PATCH',
    path: ME,
    auth: true,
    raw: '{"hasOwnProperty":1}',
    status: 400,
    code: 'validation_failed',
  },
  // Bodies that are not an object.
  { name: 'empty body', path: REGISTER, raw: '', status: 400, code: 'validation_failed' },
  { name: 'body []', path: REGISTER, raw: '[]', status: 400, code: 'validation_failed' },
  {
    name: 'body [] on PATCH',
    method: 'PATCH',
    path: ME,
    auth: true,
    raw: '[]',
    status: 400,
    code: 'validation_failed',
  },
  { name: 'body "str"', path: REGISTER, raw: '"str"', status: 400, code: 'invalid_json' },
  { name: 'body null', path: REGISTER, raw: 'null', status: 400, code: 'invalid_json' },
  { name: 'body 42', path: LOGIN, raw: '42', status: 400, code: 'invalid_json' },
  // Huge bodies.
  {
    name: 'body over 256 KiB',
    path: REGISTER,
    body: { ...valid(), displayName: 'x'.repeat(300_000) },
    status: 413,
    code: 'payload_too_large',
  },
  {
    name: 'body of 1 MiB of garbage',
    path: LOGIN,
    raw: Buffer.alloc(1024 * 1024, 0x61),
    status: 413,
    code: 'payload_too_large',
  },
  {
    name: 'deeply nested unknown field',
    path: REGISTER,
    raw: `{"username":"deep","password":"password123","x":${'['.repeat(10_000)}${']'.repeat(10_000)}}`,
    status: 400,
    code: 'validation_failed',
  },
  // Bad JSON.
  {
    name: 'truncated JSON',
    path: REGISTER,
    raw: '{"username":"abc","password":',
    status: 400,
    code: 'invalid_json',
  },
  {
    name: 'trailing comma',
    path: REGISTER,
    raw: '{"username":"abcd","password":"password123",}',
    status: 400,
    code: 'invalid_json',
  },
  {
    name: 'single quotes',
    path: REGISTER,
    raw: "{'username':'abcd','password':'password123'}",
    status: 400,
    code: 'invalid_json',
  },
  {
    name: 'byte order mark (was accepted)',
    path: REGISTER,
    raw: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), utf8(JSON.stringify(valid()))]),
    status: 400,
    code: 'invalid_json',
  },
  {
    name: 'NaN',
    path: REGISTER,
    raw: '{"username":NaN,"password":"password123"}',
    status: 400,
    code: 'invalid_json',
  },
  {
    name: 'comments',
    path: LOGIN,
    raw: '{"username":"abcd", /* hi */ "password":"password123"}',
    status: 400,
    code: 'invalid_json',
  },
  {
    name: 'two JSON documents',
    path: LOGIN,
    raw: '{"username":"abcd","password":"password123"}{}',
    status: 400,
    code: 'invalid_json',
  },
  // Bad Unicode.
  {
    name: 'lone high surrogate escape in username',
    path: REGISTER,
    raw: '{"username":"ab\\ud800","password":"password123"}',
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'lone low surrogate escape in displayName',
    method: 'PATCH',
    path: ME,
    auth: true,
    raw: '{"displayName":"x\\udc00y"}',
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'lone surrogate in a key',
    path: LOGIN,
    raw: '{"username":"abcd","password":"password123","\\ud800":1}',
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'NUL escape in password',
    path: REGISTER,
    raw: `{"username":"${username()}","password":"pass\\u0000word123"}`,
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'NUL escape in displayName',
    method: 'PATCH',
    path: ME,
    auth: true,
    raw: '{"displayName":"a\\u0000b"}',
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'invalid UTF-8 bytes sent raw (were turned into U+FFFD)',
    method: 'PATCH',
    path: ME,
    auth: true,
    raw: Buffer.concat([utf8('{"displayName":"a'), Buffer.from([0xff, 0xfe]), utf8('"}')]),
    status: 400,
    code: 'invalid_json',
  },
  {
    name: 'overlong UTF-8 encoding of "/"',
    path: LOGIN,
    raw: Buffer.concat([
      utf8('{"username":"a'),
      Buffer.from([0xc0, 0xaf]),
      utf8('","password":"password123"}'),
    ]),
    status: 400,
    code: 'invalid_json',
  },
  {
    name: 'UTF-16 body',
    path: LOGIN,
    raw: Buffer.from('{"username":"abcd","password":"password123"}', 'utf16le'),
    status: 400,
    code: 'invalid_json',
  },
  // Wrong content types.
  {
    name: 'text/plain',
    path: REGISTER,
    raw: JSON.stringify(valid()),
    headers: { 'content-type': 'text/plain' },
    status: 415,
    code: 'unsupported_media_type',
  },
  {
    name: 'text/plain PATCH (was ignored with 200)',
    method: 'PATCH',
    path: ME,
    auth: true,
    raw: '{"displayName":"ignored"}',
    headers: { 'content-type': 'text/plain' },
    status: 415,
    code: 'unsupported_media_type',
  },
  {
    name: 'form-urlencoded',
    path: LOGIN,
    raw: 'username=abcd&password=password123',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    status: 415,
    code: 'unsupported_media_type',
  },
  {
    name: 'charset latin1',
    path: LOGIN,
    raw: JSON.stringify(valid()),
    headers: { 'content-type': 'application/json; charset=latin1' },
    status: 415,
    code: 'unsupported_media_type',
  },
  {
    name: 'gzip encoding that is not gzip',
    path: LOGIN,
    raw: JSON.stringify(valid()),
    headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    status: 400,
  },
  // Usernames and passwords.
  {
    name: 'username of 1 character',
    path: REGISTER,
    body: { username: 'a', password: 'password123' },
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'username of 33 characters',
    path: REGISTER,
    body: { username: 'a'.repeat(33), password: 'password123' },
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'username with a space',
    path: REGISTER,
    body: { username: 'ada lovelace', password: 'password123' },
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'username with a trailing newline',
    path: REGISTER,
    body: { username: 'ada\n', password: 'password123' },
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'username with @',
    path: REGISTER,
    body: { username: '@me', password: 'password123' },
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'username with Cyrillic a (lookalike)',
    path: REGISTER,
    body: { username: '\u0430dmin', password: 'password123' },
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'username with fullwidth letters',
    path: REGISTER,
    body: { username: '\uff41\uff44\uff4d\uff49\uff4e', password: 'password123' },
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'username with Kelvin sign (was lower-cased to k)',
    path: REGISTER,
    body: { username: `\u212a${username()}`, password: 'password123' },
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'username with dotted capital I',
    path: REGISTER,
    body: { username: '\u0130nstanbul', password: 'password123' },
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'password of 7 characters',
    path: REGISTER,
    body: { username: username(), password: 'passwor' },
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'password of 257 code points',
    path: REGISTER,
    body: { username: username(), password: 'x'.repeat(257) },
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'password of 257 emoji',
    path: REGISTER,
    body: { username: username(), password: '\u{1f600}'.repeat(257) },
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'password of 7 emoji',
    path: REGISTER,
    body: { username: username(), password: '\u{1f600}'.repeat(7) },
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'login with empty strings',
    path: LOGIN,
    body: { username: '', password: '' },
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'login with a 10 000 character username',
    path: LOGIN,
    body: { username: 'a'.repeat(10_000), password: 'password123' },
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'displayName of 65 characters',
    method: 'PATCH',
    path: ME,
    auth: true,
    body: { displayName: 'x'.repeat(65) },
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'displayName of only spaces',
    method: 'PATCH',
    path: ME,
    auth: true,
    body: { displayName: '    ' },
    status: 400,
    code: 'validation_failed',
  },
  // Bad tokens.
  { name: 'no Authorization header', method: 'GET', path: ME, status: 401, code: 'unauthorized' },
  {
    name: '"Bearer" with nothing',
    method: 'GET',
    path: ME,
    headers: { authorization: 'Bearer' },
    status: 401,
    code: 'unauthorized',
  },
  {
    name: '"Bearer " with a space only',
    method: 'GET',
    path: ME,
    headers: { authorization: 'Bearer ' },
    status: 401,
    code: 'unauthorized',
  },
  {
    name: 'Basic scheme',
    method: 'GET',
    path: ME,
    headers: { authorization: `Basic ${Buffer.from('ada:password123').toString('base64')}` },
    status: 401,
    code: 'unauthorized',
  },
  {
    name: 'random token',
    method: 'GET',
    path: ME,
    headers: { authorization: 'Bearer cst_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
    status: 401,
    code: 'unauthorized',
  },
  {
    name: 'token with illegal characters',
    method: 'GET',
    path: ME,
    headers: { authorization: "Bearer cst_abc'; DROP TABLE users; --" },
    status: 401,
    code: 'unauthorized',
  },
  {
    name: 'two tokens',
    method: 'GET',
    path: ME,
    headers: { authorization: 'Bearer abcdefghijklmnopqrstuvwxyz Bearer abcdefghijklmnopqrstuvwxyz' },
    status: 401,
    code: 'unauthorized',
  },
  {
    name: 'Authorization of 8 KiB',
    method: 'GET',
    path: ME,
    headers: { authorization: `Bearer ${'x'.repeat(8192)}` },
    status: 401,
    code: 'unauthorized',
  },
  {
    name: 'Authorization of 64 KiB (header overflow)',
    method: 'GET',
    path: ME,
    headers: { authorization: `Bearer ${'x'.repeat(65_536)}` },
    status: 431,
    code: 'headers_too_large',
  },
  {
    name: 'random token on logout',
    path: '/api/v1/auth/logout',
    headers: { authorization: 'Bearer cst_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB' },
    status: 401,
    code: 'unauthorized',
  },
  // Ids.
  {
    name: 'id overflowing bigint',
    method: 'GET',
    path: '/api/v1/users/99999999999999999999999',
    auth: true,
    status: 404,
    code: 'not_found',
  },
  {
    name: 'id just above bigint max',
    method: 'GET',
    path: '/api/v1/users/9223372036854775808',
    auth: true,
    status: 404,
    code: 'not_found',
  },
  {
    name: 'negative id',
    method: 'GET',
    path: '/api/v1/users/-1',
    auth: true,
    status: 404,
    code: 'not_found',
  },
  {
    name: 'id that is not a number',
    method: 'GET',
    path: '/api/v1/users/abc',
    auth: true,
    status: 404,
    code: 'not_found',
  },
  {
    name: 'id with a decimal point',
    method: 'GET',
    path: '/api/v1/users/1.5',
    auth: true,
    status: 404,
    code: 'not_found',
  },
  { name: 'id 0', method: 'GET', path: '/api/v1/users/0', auth: true, status: 404, code: 'not_found' },
  {
    name: 'id that is an encoded NUL',
    method: 'GET',
    path: '/api/v1/users/%00',
    auth: true,
    status: 404,
    code: 'not_found',
  },
  {
    name: 'id with a bad percent escape',
    method: 'GET',
    path: '/api/v1/users/%ff',
    auth: true,
    status: 400,
    code: 'validation_failed',
  },
  // Unknown routes and wrong methods.
  { name: 'unknown route', method: 'GET', path: '/api/v1/nope', status: 404, code: 'not_found' },
  {
    name: 'unknown API version',
    method: 'POST',
    path: '/api/v2/auth/register',
    body: valid(),
    status: 404,
    code: 'not_found',
  },
  { name: 'root', method: 'GET', path: '/', status: 404, code: 'not_found' },
  { name: 'path traversal', method: 'GET', path: '/api/v1/../../etc/passwd', status: 404, code: 'not_found' },
  { name: 'GET on register', method: 'GET', path: REGISTER, status: 404, code: 'not_found' },
  { name: 'DELETE on @me', method: 'DELETE', path: ME, auth: true, status: 404, code: 'not_found' },
  {
    name: 'PUT on @me',
    method: 'PUT',
    path: ME,
    auth: true,
    body: { displayName: 'x' },
    status: 404,
    code: 'not_found',
  },
];

/**
 * Values that are not Snowflakes. The first two pass a naive `/^\d{1,19}$/` but do not fit a
 * Postgres bigint (they were 500s); the rest are plainly not ids.
 */
const BAD_IDS = [
  '9999999999999999999',
  '9223372036854775808',
  '99999999999999999999999',
  '-1',
  '0x10',
  '1e3',
  'abc',
  '%00',
];

/** A valid body for each route that takes one, so the id check (not body validation) answers. */
function sampleBody(route: MountedRoute, ids: { messageId: string }): unknown {
  const bodies: Record<string, unknown> = {
    'PATCH /api/v1/channels/:id': { topic: 'fuzz' },
    'POST /api/v1/channels/:id/messages': { content: 'fuzz' },
    'PATCH /api/v1/channels/:id/messages/:mid': { content: 'fuzz' },
    'PUT /api/v1/channels/:id/read': { messageId: ids.messageId },
    'POST /api/v1/channels/:id/incoming-webhooks': { name: 'fuzz' },
    'POST /hooks/:id/:token': { content: 'fuzz' },
  };
  return bodies[routeKey(route)];
}

/** Writes bytes on a fresh TCP connection and returns everything the server answers. */
function rawHttp(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(request));
    let out = '';
    socket.on('data', (d: Buffer) => (out += d.toString('latin1')));
    socket.on('end', () => resolve(out));
    socket.on('error', reject);
  });
}

describe('malformed requests', () => {
  let stack: TestStack;
  let api: Api;
  let user: TestUser;
  let before: ApiResponse;

  beforeAll(async () => {
    // Info level: the boot log lists the mounted routes. The fuzz below is hundreds of requests.
    stack = await startStack(1, {
      env: {
        CARIOS_LOG_LEVEL: 'info',
        CARIOS_RATE_LIMIT_REQUESTS: '100000',
        CARIOS_RATE_LIMIT_ANONYMOUS: '100000',
      },
    });
    api = new Api(stack.servers[0]!.url);
    user = await registerUser(api, { displayName: 'Grace' });
    before = await user.api.get(ME);
  });
  afterAll(() => stack.close());

  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const client = c.auth ? user.api : api;
    const method = c.method ?? 'POST';
    const res = await client.request(method, c.path, c.body, { headers: c.headers, raw: c.raw });
    expectError(res, c.status, c.code);
  });

  describe('ids that are not Snowflakes', () => {
    let routes: MountedRoute[];
    let valid: Record<string, string>;

    beforeAll(async () => {
      routes = mountedRoutes(stack.servers[0]!.output());
      const channel = await createChannel(user);
      const message = await postMessage(user, channel.id, 'root');
      valid = {
        id: channel.id,
        mid: message.id,
        userId: user.id,
        emoji: encodeURIComponent('👍'),
        // An incoming webhook's token: with no such hook, any token answers 404 too.
        token: 'not-a-token',
      };
    });

    it('reads the mounted routes from the boot log', () => {
      // Guards the parser: were it to find nothing, the fuzz below would pass on nothing.
      expect(routes.map(routeKey)).toEqual(
        expect.arrayContaining([
          'GET /api/v1/users/:id',
          'PUT /api/v1/channels/:id/members/:userId',
          'DELETE /api/v1/channels/:id/messages/:mid/reactions/:emoji/@me',
        ]),
      );
    });

    it('answers 404 in the error shape for every path id of every mounted route', async () => {
      const wrong: string[] = [];
      let tried = 0;
      for (const route of routes) {
        for (const param of pathParams(route.path).filter((p) => p !== 'emoji')) {
          for (const bad of BAD_IDS) {
            const path = route.path.replace(/:([A-Za-z]+)/g, (_m, name: string) =>
              name === param ? bad : valid[name]!,
            );
            const body = sampleBody(route, { messageId: valid.mid! });
            const res = await user.api.request(route.method, path, body);
            tried++;
            const shaped = res.body?.error?.code === 'not_found' && Array.isArray(res.body?.error?.details);
            if (res.status !== 404 || !shaped)
              wrong.push(`${route.method} ${path} -> ${res.status} ${res.text}`);
          }
        }
      }
      expect(wrong).toEqual([]);
      expect(tried).toBeGreaterThanOrEqual(BAD_IDS.length * 20);
    });

    it('answers 400 naming the field for ids in bodies', async () => {
      const channelId = valid.id!;
      for (const bad of BAD_IDS.slice(0, 4)) {
        const parent = await user.api.post(`/api/v1/channels/${channelId}/messages`, {
          content: 'reply',
          parentId: bad,
        });
        expectError(parent, 400, 'validation_failed');
        expect(parent.body.error.details).toEqual([{ field: 'parentId', message: expect.any(String) }]);
        const read = await user.api.put(`/api/v1/channels/${channelId}/read`, { messageId: bad });
        expectError(read, 400, 'validation_failed');
        expect(read.body.error.details).toEqual([{ field: 'messageId', message: expect.any(String) }]);
        const dm = await user.api.post('/api/v1/dms', { userIds: [user.id, bad] });
        expectError(dm, 400, 'validation_failed');
        expect(dm.body.error.details).toEqual([{ field: 'userIds', message: expect.any(String) }]);
      }
    });

    it('answers 400 naming the parameter for cursors in every documented query', async () => {
      const doc = (await api.get('/api/v1/openapi.json')).body as {
        paths: Record<string, Record<string, { parameters?: { name: string; in: string }[] }>>;
      };
      const wrong: string[] = [];
      let tried = 0;
      for (const route of routes) {
        const op = doc.paths[toOpenApiPath(route.path)]?.[route.method.toLowerCase()];
        const cursors = (op?.parameters ?? []).filter(
          (p) => p.in === 'query' && ['before', 'after'].includes(p.name),
        );
        for (const cursor of cursors) {
          for (const bad of BAD_IDS.slice(0, 3)) {
            const path = route.path.replace(/:([A-Za-z]+)/g, (_m, name: string) => valid[name]!);
            const res = await user.api.request(route.method, `${path}?${cursor.name}=${bad}`);
            tried++;
            const field = res.body?.error?.details?.[0]?.field;
            if (res.status !== 400 || field !== cursor.name)
              wrong.push(`${path}?${cursor.name}=${bad} -> ${res.text}`);
          }
        }
      }
      expect(wrong).toEqual([]);
      // browse, members, history (before and after), replies.
      expect(tried).toBeGreaterThanOrEqual(5 * 3);
    });
  });

  it('never authenticates with a token in the query string', async () => {
    expectError(await api.get(`${ME}?access_token=${user.token}`), 401, 'unauthorized');
    expectError(await api.get(`${ME}?token=${user.token}`), 401, 'unauthorized');
  });

  it('answers requests the HTTP parser refuses in the error shape', async () => {
    const port = stack.servers[0]!.port;
    const ctl = await rawHttp(
      port,
      `GET ${ME} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer abc\x01def\r\n\r\n`,
    );
    expect(ctl).toMatch(/^HTTP\/1\.1 400 /);
    expect(JSON.parse(ctl.slice(ctl.indexOf('\r\n\r\n') + 4))).toEqual({
      error: { code: 'validation_failed', message: expect.any(String), details: [] },
    });
    const garbage = await rawHttp(port, 'HELLO\r\n\r\n');
    expect(garbage).toMatch(/^HTTP\/1\.1 400 /);
  });

  it('accepts the edge cases that are valid (8 emoji password, 32 character username)', async () => {
    const emoji = await api.post(REGISTER, { username: username('e'), password: '\u{1f600}'.repeat(8) });
    expect(emoji.status).toBe(201);
    const long = await api.post(REGISTER, { username: `a${'b'.repeat(31)}`, password: 'x'.repeat(256) });
    expect(long.status).toBe(201);
  });

  it('keeps serving and leaves the user data intact', async () => {
    expect((await api.get('/healthz')).body).toMatchObject({ status: 'ok' });
    const after = await user.api.get(ME);
    expect(after.status).toBe(200);
    expect(after.body).toEqual(before.body);
    expect(after.body.displayName).toBe('Grace');
    const login = await api.post(LOGIN, { username: user.username, password: 'password123' });
    expect(login.status).toBe(200);
    expect(login.body.user.isAdmin).toBe(before.body.isAdmin);
    // No request above was logged as a server error.
    expect(stack.servers[0]!.output()).not.toMatch(/"level":50/);
  });
});
