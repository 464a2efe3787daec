import { Api, expectError, registerUser, TestUser } from '../support/api';
import { createChannel, postMessage } from '../support/chat';
import { startStack, TestStack } from '../support/server';

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe('channels and membership', () => {
  let stack: TestStack;
  let api: Api;
  let admin: TestUser;
  let owner: TestUser;
  let member: TestUser;
  let outsider: TestUser;

  beforeAll(async () => {
    stack = await startStack(1);
    api = new Api(stack.servers[0]!.url);
    admin = await registerUser(api);
    owner = await registerUser(api);
    member = await registerUser(api);
    outsider = await registerUser(api);
    expect(admin.isAdmin).toBe(true);
  });
  afterAll(() => stack.close());

  it('creates a channel with a trimmed NFC name and renders the contract shape', async () => {
    const res = await owner.api.post('/api/v1/channels', {
      name: '  Cafe\u0301  ',
      kind: 'public',
      topic: ' hi ',
    });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: expect.stringMatching(/^\d+$/),
      name: 'Café',
      kind: 'public',
      topic: 'hi',
      ownerId: owner.id,
      archived: false,
      createdAt: expect.stringMatching(ISO),
    });
    const members = await owner.api.get(`/api/v1/channels/${res.body.id}/members`);
    expect(members.body).toEqual([
      {
        user: expect.objectContaining({ id: owner.id, username: owner.username }),
        role: 'owner',
        joinedAt: expect.stringMatching(ISO),
      },
    ]);
  });

  it('validates names, kinds, topics and unknown properties', async () => {
    const post = (body: unknown) => owner.api.post('/api/v1/channels', body);
    expectError(await post({ name: '   ', kind: 'public' }), 400, 'validation_failed');
    expectError(await post({ name: '😀'.repeat(81), kind: 'public' }), 400, 'validation_failed');
    expect((await post({ name: '😀'.repeat(80), kind: 'public' })).status).toBe(201);
    expectError(await post({ name: 'x', kind: 'dm' }), 400, 'validation_failed');
    expectError(await post({ name: 'x', kind: 'public', topic: 'y'.repeat(251) }), 400, 'validation_failed');
    expectError(await post({ name: 'x', kind: 'public', topic: null }), 400, 'validation_failed');
    expectError(await post({ name: 'x', kind: 'public', extra: 1 }), 400, 'validation_failed');
    expectError(await post({ name: 42, kind: 'public' }), 400, 'validation_failed');
  });

  it('answers 404 for ids that are not snowflakes or do not exist', async () => {
    for (const id of ['abc', '1e5', '99999999999999999999', '123']) {
      expectError(await owner.api.get(`/api/v1/channels/${id}`), 404, 'not_found');
      expectError(await owner.api.get(`/api/v1/channels/${id}/messages`), 404, 'not_found');
    }
  });

  it('public channel: anyone sees it, only members read and post, owner or admin manage it', async () => {
    const ch = await createChannel(owner, 'public');
    const base = `/api/v1/channels/${ch.id}`;
    expect((await outsider.api.get(base)).status).toBe(200);
    expectError(await outsider.api.get(`${base}/messages`), 403, 'forbidden');
    expectError(await outsider.api.post(`${base}/messages`, { content: 'hi' }), 403, 'forbidden');
    expectError(await outsider.api.get(`${base}/members`), 403, 'forbidden');
    expectError(await outsider.api.post(`${base}/typing`), 403, 'forbidden');
    expectError(await outsider.api.put(`${base}/read`, { messageId: '1' }), 403, 'forbidden');
    expectError(await outsider.api.put(`${base}/members/${member.id}`), 403, 'forbidden');

    expect((await member.api.put(`${base}/members/@me`)).status).toBe(204);
    expect((await member.api.put(`${base}/members/@me`)).status).toBe(204);
    const msg = await postMessage(member, ch.id, 'hello');
    expect((await member.api.get(`${base}/messages`)).body.map((m: { id: string }) => m.id)).toEqual([
      msg.id,
    ]);

    expectError(await member.api.patch(base, { topic: 'mine now' }), 403, 'forbidden');
    expectError(await outsider.api.patch(base, { topic: 'mine now' }), 403, 'forbidden');
    expect((await owner.api.patch(base, { topic: 'by owner' })).body.topic).toBe('by owner');
    const byAdmin = await admin.api.patch(base, { name: 'renamed' });
    expect(byAdmin.status).toBe(200);
    expect(byAdmin.body).toMatchObject({ name: 'renamed', topic: 'by owner' });
    expectError(await owner.api.patch(base, { name: '' }), 400, 'validation_failed');

    expectError(await member.api.delete(`${base}/members/${owner.id}`), 403, 'forbidden');
    expectError(await outsider.api.delete(`${base}/members/${member.id}`), 403, 'forbidden');
    expect((await owner.api.delete(`${base}/members/${member.id}`)).status).toBe(204);
    expectError(await owner.api.delete(`${base}/members/${member.id}`), 404, 'not_found');
    expect((await member.api.put(`${base}/members/@me`)).status).toBe(204);
    expect((await admin.api.delete(`${base}/members/${member.id}`)).status).toBe(204);
    expectError(await member.api.get(`${base}/messages`), 403, 'forbidden');
    expectError(await owner.api.put(`${base}/members/123`), 404, 'not_found');
    expectError(await owner.api.put(`${base}/members/not-a-user`), 404, 'not_found');
  });

  it('private channel: 404 to outsiders (admins included), members add others, owner removes', async () => {
    const ch = await createChannel(owner, 'private');
    const base = `/api/v1/channels/${ch.id}`;
    for (const u of [outsider, admin]) {
      expectError(await u.api.get(base), 404, 'not_found');
      expectError(await u.api.get(`${base}/messages`), 404, 'not_found');
      expectError(await u.api.post(`${base}/messages`, { content: 'hi' }), 404, 'not_found');
      expectError(await u.api.put(`${base}/members/@me`), 404, 'not_found');
      expectError(await u.api.patch(base, { topic: 'x' }), 404, 'not_found');
      expectError(await u.api.delete(base), 404, 'not_found');
    }
    expect((await owner.api.put(`${base}/members/${member.id}`)).status).toBe(204);
    expect((await member.api.get(base)).status).toBe(200);
    expect((await member.api.put(`${base}/members/${outsider.id}`)).status).toBe(204);
    expect((await outsider.api.get(`${base}/messages`)).status).toBe(200);
    expectError(await member.api.delete(`${base}/members/${outsider.id}`), 403, 'forbidden');
    expect((await owner.api.delete(`${base}/members/${outsider.id}`)).status).toBe(204);
    expectError(await outsider.api.get(base), 404, 'not_found');
    expect((await member.api.delete(`${base}/members/@me`)).status).toBe(204);
    expectError(await member.api.get(base), 404, 'not_found');
    // An admin who is a member may manage it.
    expect((await owner.api.put(`${base}/members/${admin.id}`)).status).toBe(204);
    expect((await admin.api.patch(base, { topic: 'admin' })).status).toBe(200);
  });

  it('lists members in keyset pages by user id', async () => {
    const ch = await createChannel(owner, 'public');
    const others = await Promise.all([1, 2, 3, 4].map(() => registerUser(api)));
    for (const u of others)
      expect((await u.api.put(`/api/v1/channels/${ch.id}/members/@me`)).status).toBe(204);
    const all = [owner, ...others].map((u) => u.id).sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
    const seen: string[] = [];
    let after: string | undefined;
    for (;;) {
      const res = await owner.api.get(
        `/api/v1/channels/${ch.id}/members?limit=2${after ? `&after=${after}` : ''}`,
      );
      expect(res.status).toBe(200);
      if (res.body.length === 0) break;
      seen.push(...res.body.map((m: { user: { id: string } }) => m.user.id));
      after = seen[seen.length - 1];
    }
    expect(seen).toEqual(all);
    expectError(await owner.api.get(`/api/v1/channels/${ch.id}/members?limit=101`), 400, 'validation_failed');
    expectError(await owner.api.get(`/api/v1/channels/${ch.id}/members?limit=0`), 400, 'validation_failed');
    expectError(await owner.api.get(`/api/v1/channels/${ch.id}/members?after=abc`), 400, 'validation_failed');
    expectError(await owner.api.get(`/api/v1/channels/${ch.id}/members?offset=2`), 400, 'validation_failed');
  });

  it('browses public channels, newest first, by pages', async () => {
    const mine = [await createChannel(owner), await createChannel(owner), await createChannel(owner)];
    const priv = await createChannel(owner, 'private');
    const first = await outsider.api.get('/api/v1/channels/browse?limit=2');
    expect(first.status).toBe(200);
    expect(first.body.map((c: { id: string }) => c.id)).toEqual([mine[2]!.id, mine[1]!.id]);
    const next = await outsider.api.get(`/api/v1/channels/browse?limit=2&before=${mine[1]!.id}`);
    expect(next.body[0].id).toBe(mine[0]!.id);
    const all = await outsider.api.get('/api/v1/channels/browse?limit=100');
    expect(all.body.every((c: { kind: string }) => c.kind === 'public')).toBe(true);
    expect(all.body.map((c: { id: string }) => c.id)).not.toContain(priv.id);
    expectError(await outsider.api.get('/api/v1/channels/browse?limit=500'), 400, 'validation_failed');
  });

  it('archives: history stays readable, writing answers 403, archived channels leave browse', async () => {
    const ch = await createChannel(owner, 'public');
    const base = `/api/v1/channels/${ch.id}`;
    await member.api.put(`${base}/members/@me`);
    const msg = await postMessage(member, ch.id, 'before archive');
    expectError(await member.api.delete(base), 403, 'forbidden');
    expect((await owner.api.delete(base)).status).toBe(204);
    expect((await owner.api.delete(base)).status).toBe(204);
    expect((await member.api.get(base)).body.archived).toBe(true);
    expect((await member.api.get(`${base}/messages`)).body.map((m: { id: string }) => m.id)).toEqual([
      msg.id,
    ]);
    expect((await member.api.get(`${base}/messages/${msg.id}`)).status).toBe(200);
    expectError(await member.api.post(`${base}/messages`, { content: 'after' }), 403, 'forbidden');
    expectError(await member.api.patch(`${base}/messages/${msg.id}`, { content: 'edit' }), 403, 'forbidden');
    expectError(
      await member.api.put(`${base}/messages/${msg.id}/reactions/${encodeURIComponent('👍')}/@me`),
      403,
      'forbidden',
    );
    expectError(await member.api.post(`${base}/typing`), 403, 'forbidden');
    expectError(await owner.api.patch(base, { topic: 'x' }), 403, 'forbidden');
    expectError(await outsider.api.put(`${base}/members/@me`), 403, 'forbidden');
    expect((await member.api.put(`${base}/read`, { messageId: msg.id })).status).toBe(204);
    const browse = await outsider.api.get('/api/v1/channels/browse?limit=100');
    expect(browse.body.map((c: { id: string }) => c.id)).not.toContain(ch.id);
    const archivedByAdmin = await createChannel(owner, 'public');
    expect((await admin.api.delete(`/api/v1/channels/${archivedByAdmin.id}`)).status).toBe(204);
  });

  it('gives one direct channel per set of users, also under concurrent requests', async () => {
    const a = await registerUser(api);
    const b = await registerUser(api);
    const c = await registerUser(api);
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        (i % 2 ? a : b).api.post('/api/v1/dms', { userIds: i % 2 ? [b.id, c.id] : [c.id, a.id, a.id] }),
      ),
    );
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
    const ids = new Set(results.map((r) => r.body.id));
    expect(ids.size).toBe(1);
    const dm = results[0]!.body;
    expect(dm).toMatchObject({ kind: 'dm', ownerId: null, archived: false, topic: '' });
    expect((await c.api.post('/api/v1/dms', { userIds: [a.id, b.id, c.id] })).body.id).toBe(dm.id);
    const pair = await a.api.post('/api/v1/dms', { userIds: [b.id] });
    expect(pair.status).toBe(201);
    expect(pair.body.id).not.toBe(dm.id);
    expectError(await outsider.api.get(`/api/v1/channels/${dm.id}`), 404, 'not_found');
    expectError(await outsider.api.put(`/api/v1/channels/${dm.id}/members/@me`), 404, 'not_found');
    expectError(await a.api.put(`/api/v1/channels/${dm.id}/members/${outsider.id}`), 403, 'forbidden');
    expectError(await a.api.delete(`/api/v1/channels/${dm.id}/members/@me`), 403, 'forbidden');
    expectError(await a.api.patch(`/api/v1/channels/${dm.id}`, { name: 'x' }), 403, 'forbidden');
    expect((await postMessage(c, dm.id, 'hi all')).id).toMatch(/^\d+$/);
    expectError(await a.api.post('/api/v1/dms', { userIds: ['123'] }), 400, 'validation_failed');
    expectError(await a.api.post('/api/v1/dms', { userIds: [] }), 400, 'validation_failed');
    expectError(await a.api.post('/api/v1/dms', { userIds: 'x' }), 400, 'validation_failed');
    expectError(await a.api.post('/api/v1/dms', { userIds: ['abc'] }), 400, 'validation_failed');
    const mine = (await a.api.get('/api/v1/channels')).body.map((ch: { id: string }) => ch.id);
    expect(mine).toEqual(expect.arrayContaining([dm.id, pair.body.id]));
  });

  it('counts unread messages from the read marker and reports the last message', async () => {
    const ch = await createChannel(owner, 'public');
    await member.api.put(`/api/v1/channels/${ch.id}/members/@me`);
    const mine = async (u: TestUser) =>
      (
        (await u.api.get('/api/v1/channels')).body as {
          id: string;
          unreadCount: number;
          lastMessageId: string | null;
        }[]
      ).find((c) => c.id === ch.id)!;
    expect(await mine(member)).toMatchObject({ unreadCount: 0, lastMessageId: null });
    const m1 = await postMessage(owner, ch.id, 'one');
    await postMessage(owner, ch.id, 'two');
    const m3 = await postMessage(owner, ch.id, 'three');
    await postMessage(member, ch.id, 'mine do not count');
    expect(await mine(member)).toMatchObject({ unreadCount: 3 });
    expect(await mine(owner)).toMatchObject({ unreadCount: 1 });
    expect((await member.api.put(`/api/v1/channels/${ch.id}/read`, { messageId: m1.id })).status).toBe(204);
    expect(await mine(member)).toMatchObject({ unreadCount: 2 });
    await member.api.put(`/api/v1/channels/${ch.id}/read`, { messageId: m3.id });
    const after = await mine(member);
    expect(after.unreadCount).toBe(0);
    expect(BigInt(after.lastMessageId!)).toBeGreaterThan(BigInt(m3.id));
    expectError(
      await member.api.put(`/api/v1/channels/${ch.id}/read`, { messageId: '123' }),
      400,
      'validation_failed',
    );
    expectError(
      await member.api.put(`/api/v1/channels/${ch.id}/read`, { messageId: 5 }),
      400,
      'validation_failed',
    );
    expectError(await member.api.put(`/api/v1/channels/${ch.id}/read`, {}), 400, 'validation_failed');
  });

  it('accepts typing from members with 204', async () => {
    const ch = await createChannel(owner, 'public');
    expect((await owner.api.post(`/api/v1/channels/${ch.id}/typing`)).status).toBe(204);
    expect((await owner.api.post(`/api/v1/channels/${ch.id}/typing`)).text).toBe('');
  });

  it('documents the routes in OpenAPI', async () => {
    const doc = await api.get('/api/v1/openapi.json');
    expect(Object.keys(doc.body.paths)).toEqual(
      expect.arrayContaining([
        '/api/v1/channels',
        '/api/v1/channels/browse',
        '/api/v1/channels/{id}',
        '/api/v1/channels/{id}/members',
        '/api/v1/channels/{id}/members/{userId}',
        '/api/v1/channels/{id}/read',
        '/api/v1/channels/{id}/typing',
        '/api/v1/dms',
        '/api/v1/channels/{id}/messages',
        '/api/v1/channels/{id}/messages/{mid}',
        '/api/v1/channels/{id}/messages/{mid}/replies',
        '/api/v1/channels/{id}/messages/{mid}/reactions/{emoji}/@me',
      ]),
    );
  });
});
