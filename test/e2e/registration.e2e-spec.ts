import { Client } from 'pg';
import { Api, expectError, registerUser, username } from '../support/api';
import { runAdmin } from '../support/admin-cli';
import { testServices } from '../support/env';
import { startStack, TestStack } from '../support/server';

/**
 * Who may create accounts: CARIOS_REGISTRATION (open, invite, closed), CARIOS_ADMIN_USERNAME and
 * the admin command, as an operator sets up a server that nobody else can claim.
 */

const register = (api: Api, name: string, extra: Record<string, unknown> = {}) =>
  api.post('/api/v1/auth/register', { username: name, password: 'password123', ...extra });

describe('registration closed: the admin command creates the first admin', () => {
  let stack: TestStack;
  let api: Api;
  let password: string;

  beforeAll(async () => {
    // No server yet: the operator creates the admin before the first boot (the command migrates).
    stack = await startStack(0, { env: { CARIOS_REGISTRATION: 'closed' } });
    const created = await runAdmin(stack.env, ['create', 'Root']);
    expect(created).toMatchObject({ code: 0, stderr: '' });
    expect(created.stdout).toMatch(/^created server admin root \(id \d+\)$/m);
    password = /^password: (\S+)$/m.exec(created.stdout)![1]!;
    api = new Api((await stack.start()).url);
  });
  afterAll(() => stack.close());

  it('refuses every registration with 403, even on an empty-looking server and with an invite code', async () => {
    for (const body of [{}, { inviteCode: 'inv_whatever' }, { displayName: 'First!' }]) {
      const res = await register(api, username('stranger'), body);
      expectError(res, 403, 'forbidden');
      expect(res.body.error.message).toMatch(/registration is closed/);
    }
    expectError(await register(api, 'root'), 403, 'forbidden');
  });

  it('lets the admin made by the command log in, as an admin', async () => {
    const login = await api.post('/api/v1/auth/login', { username: 'root', password });
    expect(login.status).toBe(200);
    expect(login.body.user).toMatchObject({ username: 'root', isAdmin: true });
    // And the admin can hand out invites (used once registration is switched to invite).
    const invite = await api.as(login.body.token).post('/api/v1/invites', {});
    expect(invite.status).toBe(201);
  });

  it('refuses to create an account twice, and explains its usage', async () => {
    await stack.servers[0]!.stop(); // embedded: one process per data directory
    const again = await runAdmin(stack.env, ['create', 'root']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/root exists already: use promote/);
    const usage = await runAdmin(stack.env, ['frobnicate']);
    expect(usage.code).toBe(64);
    expect(usage.stderr).toMatch(/unknown command frobnicate\nusage:/);
    const badName = await runAdmin(stack.env, ['create', 'no spaces']);
    expect(badName.code).toBe(64);
  });

  it('creates a second admin from a password on stdin, and promotes an account', async () => {
    const created = await runAdmin(
      stack.env,
      ['create', 'ops', '--password-stdin'],
      'a long enough secret\n',
    );
    expect(created.code).toBe(0);
    expect(created.stdout).not.toMatch(/password/);
    const invite = await runAdmin(stack.env, ['invite', '--expires', '1h']);
    expect(invite.code).toBe(0);
    expect(invite.stdout).toMatch(/^invite code: inv_[A-Za-z0-9_-]{43}$/m);
    const promoted = await runAdmin(stack.env, ['promote', 'nobody']);
    expect(promoted).toMatchObject({ code: 1, stderr: 'no account named nobody\n' });

    api = new Api((await stack.start()).url);
    const login = await api.post('/api/v1/auth/login', { username: 'ops', password: 'a long enough secret' });
    expect(login.body.user).toMatchObject({ username: 'ops', isAdmin: true });
  });

  it('never lets the command open an embedded database the server holds', async () => {
    if (stack.env.CARIOS_DATABASE_URL) {
      // On Postgres the command runs beside the server.
      const res = await runAdmin(stack.env, ['invite']);
      expect(res.code).toBe(0);
    } else {
      const res = await runAdmin(stack.env, ['invite']);
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(/is in use by process \d+: stop it first/);
      // The server is unharmed.
      expect((await api.get('/readyz')).status).toBe(200);
    }
  });
});

describe('registration by invite, first admin named by CARIOS_ADMIN_USERNAME', () => {
  let stack: TestStack;
  let api: Api;
  let boss: Api;

  beforeAll(async () => {
    stack = await startStack(1, { env: { CARIOS_REGISTRATION: 'invite', CARIOS_ADMIN_USERNAME: 'Boss' } });
    api = new Api(stack.servers[0]!.url);
  });
  afterAll(() => stack.close());

  it('lets only the named admin register first, without an invite', async () => {
    const stranger = await register(api, 'mallory');
    expectError(stranger, 403, 'forbidden');
    expect(stranger.body.error.message).toMatch(/administrator has registered/);
    const first = await register(api, 'boss');
    expect(first.status).toBe(201);
    expect(first.body.user).toMatchObject({ username: 'boss', isAdmin: true });
    boss = api.as(first.body.token);
  });

  it('asks everyone else for an invite code, and refuses unknown ones', async () => {
    const missing = await register(api, 'mallory');
    expectError(missing, 400, 'validation_failed');
    expect(missing.body.error.details).toEqual([{ field: 'inviteCode', message: expect.any(String) }]);
    expectError(await register(api, 'mallory', { inviteCode: 'inv_guessed' }), 403, 'forbidden');
  });

  it('admits one registration per invite; the invite records who used it', async () => {
    const made = await boss.post('/api/v1/invites', { expiresInSeconds: 3600 });
    expect(made.status).toBe(201);
    expect(made.body).toEqual({
      id: expect.stringMatching(/^\d+$/),
      code: expect.stringMatching(/^inv_[A-Za-z0-9_-]{43}$/),
      createdBy: expect.stringMatching(/^\d+$/),
      createdAt: expect.any(String),
      expiresAt: expect.any(String),
      usedAt: null,
      usedBy: null,
    });
    const ttl = Date.parse(made.body.expiresAt) - Date.parse(made.body.createdAt);
    expect(Math.abs(ttl - 3_600_000)).toBeLessThan(5_000);

    const bob = await register(api, 'bob', { inviteCode: made.body.code });
    expect(bob.status).toBe(201);
    expect(bob.body.user.isAdmin).toBe(false);
    expectError(await register(api, 'carol', { inviteCode: made.body.code }), 403, 'forbidden');

    const list = await boss.get('/api/v1/invites');
    expect(list.status).toBe(200);
    const used = list.body.find((i: { id: string }) => i.id === made.body.id);
    expect(used).toMatchObject({ usedBy: bob.body.user.id, usedAt: expect.any(String) });
    expect(used.code).toBeUndefined();

    // Only admins manage invites.
    const bobApi = api.as(bob.body.token);
    expectError(await bobApi.post('/api/v1/invites', {}), 403, 'forbidden');
    expectError(await bobApi.get('/api/v1/invites'), 403, 'forbidden');
    expectError(await bobApi.delete(`/api/v1/invites/${made.body.id}`), 403, 'forbidden');
  });

  it('lets exactly one of two racing registrations use an invite', async () => {
    const { code } = (await boss.post('/api/v1/invites', {})).body as { code: string };
    const results = await Promise.all(
      ['race1', 'race2', 'race3'].map((name) => register(api, name, { inviteCode: code })),
    );
    expect(results.map((r) => r.status).sort()).toEqual([201, 403, 403]);
  });

  it('does not use up an invite on a registration that fails', async () => {
    const { code } = (await boss.post('/api/v1/invites', {})).body as { code: string };
    expectError(await register(api, 'bob', { inviteCode: code }), 409, 'conflict');
    expect((await register(api, 'dave', { inviteCode: code })).status).toBe(201);
  });

  it('deletes an invite, after which its code is refused', async () => {
    const made = (await boss.post('/api/v1/invites', {})).body as { id: string; code: string };
    expect((await boss.delete(`/api/v1/invites/${made.id}`)).status).toBe(204);
    expectError(await register(api, 'erin', { inviteCode: made.code }), 403, 'forbidden');
    expectError(await boss.delete(`/api/v1/invites/${made.id}`), 404, 'not_found');
    expectError(await boss.delete('/api/v1/invites/9999999999999999999'), 404, 'not_found');
  });

  it('bounds the lifetime of an invite', async () => {
    for (const expiresInSeconds of [59, 30 * 86_400 + 1, 1.5, '3600']) {
      const res = await boss.post('/api/v1/invites', { expiresInSeconds });
      expectError(res, 400, 'validation_failed');
      expect(res.body.error.details[0].field).toBe('expiresInSeconds');
    }
  });

  // Needs SQL access to move one invite's expiry into the past instead of waiting a minute.
  (testServices.databaseUrl ? it : it.skip)('refuses an expired invite', async () => {
    const made = (await boss.post('/api/v1/invites', {})).body as { id: string; code: string };
    const db = new Client({ connectionString: stack.env.CARIOS_DATABASE_URL });
    await db.connect();
    try {
      await db.query("UPDATE invites SET expires_at = now() - interval '1 second' WHERE id = $1", [made.id]);
    } finally {
      await db.end();
    }
    expectError(await register(api, 'frank', { inviteCode: made.code }), 403, 'forbidden');
  });
});

describe('open registration with CARIOS_ADMIN_USERNAME', () => {
  let stack: TestStack;
  let api: Api;

  beforeAll(async () => {
    stack = await startStack(1, { env: { CARIOS_ADMIN_USERNAME: 'root' } });
    api = new Api(stack.servers[0]!.url);
  });
  afterAll(() => stack.close());

  it('keeps the server for the named admin, then opens to everyone', async () => {
    expectError(await register(api, 'early-bird'), 403, 'forbidden');
    const root = await registerUser(api, { username: 'root' });
    expect(root.isAdmin).toBe(true);
    const later = await registerUser(api, { username: 'early-bird' });
    expect(later.isAdmin).toBe(false);
    // Open mode ignores invite codes.
    expect((await register(api, username(), { inviteCode: 'inv_anything' })).status).toBe(201);
  });
});
