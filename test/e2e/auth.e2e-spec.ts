import { Api, expectError, registerUser, username } from '../support/api';
import { startStack, TestStack } from '../support/server';

describe('auth and users', () => {
  let stack: TestStack;
  let api: Api;

  beforeAll(async () => {
    stack = await startStack(1);
    api = new Api(stack.servers[0]!.url);
  });
  afterAll(() => stack.close());

  it('makes the first user admin and later ones not', async () => {
    const first = await registerUser(api);
    const second = await registerUser(api);
    expect(first.isAdmin).toBe(true);
    expect(second.isAdmin).toBe(false);
  });

  it('registers, reads @me, patches, logs out and revokes the token at once', async () => {
    const name = username('Mixed');
    const reg = await api.post('/api/v1/auth/register', {
      username: name,
      password: 'password123',
      displayName: 'Ada',
    });
    expect(reg.status).toBe(201);
    expect(reg.body.user).toEqual({
      id: expect.stringMatching(/^\d+$/),
      username: name.toLowerCase(),
      displayName: 'Ada',
      isAdmin: expect.any(Boolean),
      isBot: false,
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
    });
    const me = api.as(reg.body.token);
    expect((await me.get('/api/v1/users/@me')).body.id).toBe(reg.body.user.id);
    const patched = await me.patch('/api/v1/users/@me', { displayName: '  Ada L.  ' });
    expect(patched.status).toBe(200);
    expect(patched.body.displayName).toBe('Ada L.');
    expect((await api.get(`/api/v1/users/${reg.body.user.id}`)).status).toBe(401);
    expect((await me.get(`/api/v1/users/${reg.body.user.id}`)).body.username).toBe(name.toLowerCase());

    const out = await me.post('/api/v1/auth/logout');
    expect(out.status).toBe(204);
    expectError(await me.get('/api/v1/users/@me'), 401, 'unauthorized');
  });

  it('answers 409 for a taken username in any case, and the same 401 for unknown user and wrong password', async () => {
    const u = await registerUser(api);
    expectError(
      await api.post('/api/v1/auth/register', {
        username: u.username.toUpperCase(),
        password: 'password123',
      }),
      409,
      'conflict',
    );
    const wrong = await api.post('/api/v1/auth/login', { username: u.username, password: 'wrong-password' });
    const unknown = await api.post('/api/v1/auth/login', {
      username: username(),
      password: 'wrong-password',
    });
    expectError(wrong, 401, 'unauthorized');
    expect(unknown.body).toEqual(wrong.body);
    const ok = await api.post('/api/v1/auth/login', {
      username: u.username.toUpperCase(),
      password: 'password123',
    });
    expect(ok.status).toBe(200);
    expect(ok.body.token).not.toBe(u.token);
  });
});
