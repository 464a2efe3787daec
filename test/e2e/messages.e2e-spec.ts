import { Api, expectError, registerUser, TestUser } from '../support/api';
import { createChannel, inBatches, postMessage } from '../support/chat';
import { describeWithPostgres } from '../support/describe';
import { startStack, TestStack } from '../support/server';

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const THUMBS = encodeURIComponent('👍');
const PARTY = encodeURIComponent('🎉');

describe('messages', () => {
  let stack: TestStack;
  let api: Api;
  let admin: TestUser;
  let owner: TestUser;
  let member: TestUser;
  let outsider: TestUser;
  let channelId: string;
  let base: string;

  beforeAll(async () => {
    stack = await startStack(1);
    api = new Api(stack.servers[0]!.url);
    admin = await registerUser(api);
    owner = await registerUser(api, { displayName: 'The Owner' });
    member = await registerUser(api);
    outsider = await registerUser(api);
    channelId = (await createChannel(owner, 'public')).id;
    base = `/api/v1/channels/${channelId}/messages`;
    await member.api.put(`/api/v1/channels/${channelId}/members/@me`);
  });
  afterAll(() => stack.close());

  it('posts and reads a message in exactly the contract shape', async () => {
    const res = await owner.api.post(base, {
      content: 'Cafe\u0301 time',
      nonce: 'n-shape',
      attachmentIds: [],
    });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: expect.stringMatching(/^\d+$/),
      channelId,
      author: { id: owner.id, username: owner.username, displayName: 'The Owner' },
      content: 'Café time',
      nonce: 'n-shape',
      parentId: null,
      attachments: [],
      mentions: [],
      reactions: [],
      createdAt: expect.stringMatching(ISO),
      editedAt: null,
    });
    expect((await member.api.get(`${base}/${res.body.id}`)).body).toEqual(res.body);
    expectError(await member.api.get(`${base}/123`), 404, 'not_found');
    expectError(await member.api.get(`${base}/nope`), 404, 'not_found');
  });

  it('validates content, nonce, parentId and attachmentIds', async () => {
    expect((await member.api.post(base, { content: '😀'.repeat(4000) })).status).toBe(201);
    expectError(await member.api.post(base, { content: '😀'.repeat(4001) }), 400, 'validation_failed');
    expectError(await member.api.post(base, { content: '' }), 400, 'validation_failed');
    expectError(await member.api.post(base, { content: '  \n ' }), 400, 'validation_failed');
    expectError(await member.api.post(base, {}), 400, 'validation_failed');
    expectError(await member.api.post(base, { content: 5 }), 400, 'validation_failed');
    expectError(await member.api.post(base, { content: 'x', nonce: '' }), 400, 'validation_failed');
    expectError(
      await member.api.post(base, { content: 'x', nonce: 'n'.repeat(65) }),
      400,
      'validation_failed',
    );
    expectError(await member.api.post(base, { content: 'x', parentId: 'abc' }), 400, 'validation_failed');
    expectError(await member.api.post(base, { content: 'x', parentId: '123' }), 400, 'validation_failed');
    const att = await member.api.post(base, { content: 'x', attachmentIds: ['123'] });
    expectError(att, 400, 'validation_failed');
    expect(att.body.error.details[0]).toEqual({
      field: 'attachmentIds[0]',
      message: expect.stringMatching(/not an upload of yours/),
    });
    expectError(await member.api.post(base, { content: 'x', attachmentIds: 'no' }), 400, 'validation_failed');
    expectError(await member.api.post(base, { content: 'x', unknown: true }), 400, 'validation_failed');
  });

  it('is idempotent by nonce: 200 and the same message, 422 for other content or parent', async () => {
    const first = await member.api.post(base, { content: 'once', nonce: 'abc' });
    expect(first.status).toBe(201);
    const again = await member.api.post(base, { content: 'once', nonce: 'abc' });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expectError(await member.api.post(base, { content: 'other', nonce: 'abc' }), 422, 'idempotency_mismatch');
    expectError(
      await member.api.post(base, { content: 'once', nonce: 'abc', parentId: first.body.id }),
      422,
      'idempotency_mismatch',
    );
    // The nonce is per author.
    expect((await owner.api.post(base, { content: 'once', nonce: 'abc' })).status).toBe(201);
  });

  it('lets only the author edit, and the author, channel owner or admin delete', async () => {
    const msg = await postMessage(member, channelId, 'draft');
    expectError(await owner.api.patch(`${base}/${msg.id}`, { content: 'hijack' }), 403, 'forbidden');
    expectError(await outsider.api.patch(`${base}/${msg.id}`, { content: 'hijack' }), 403, 'forbidden');
    const edited = await member.api.patch(`${base}/${msg.id}`, { content: 'final @' + owner.username });
    expect(edited.status).toBe(200);
    expect(edited.body).toMatchObject({
      content: `final @${owner.username}`,
      mentions: [owner.id],
      editedAt: expect.stringMatching(ISO),
    });
    expectError(await member.api.patch(`${base}/${msg.id}`, { content: '' }), 400, 'validation_failed');

    const m2 = await postMessage(owner, channelId, 'owner msg');
    expectError(await member.api.delete(`${base}/${m2.id}`), 403, 'forbidden');
    expectError(await outsider.api.delete(`${base}/${m2.id}`), 403, 'forbidden');
    expect((await member.api.delete(`${base}/${msg.id}`)).status).toBe(204);
    expectError(await member.api.get(`${base}/${msg.id}`), 404, 'not_found');
    const m3 = await postMessage(member, channelId, 'by member');
    expect((await owner.api.delete(`${base}/${m3.id}`)).status).toBe(204);
    const m4 = await postMessage(member, channelId, 'by member again');
    expect((await admin.api.delete(`${base}/${m4.id}`)).status).toBe(204);
    expect((await owner.api.delete(`${base}/${m2.id}`)).status).toBe(204);
    expectError(await owner.api.delete(`${base}/${m2.id}`), 404, 'not_found');
  });

  it('lets only members act: an author who left or was removed can no longer delete their own message', async () => {
    const leaver = await registerUser(api);
    const removed = await registerUser(api);
    for (const u of [leaver, removed]) await u.api.put(`/api/v1/channels/${channelId}/members/@me`);
    const byLeaver = await postMessage(leaver, channelId, 'said before leaving');
    const byRemoved = await postMessage(removed, channelId, 'said before removal');
    expect((await leaver.api.delete(`/api/v1/channels/${channelId}/members/@me`)).status).toBe(204);
    expect((await owner.api.delete(`/api/v1/channels/${channelId}/members/${removed.id}`)).status).toBe(204);
    for (const [u, msg] of [
      [leaver, byLeaver],
      [removed, byRemoved],
    ] as const) {
      expectError(await u.api.delete(`${base}/${msg.id}`), 403, 'forbidden');
      // Like every other write of a non-member.
      expectError(await u.api.patch(`${base}/${msg.id}`, { content: 'changed' }), 403, 'forbidden');
      expectError(await u.api.put(`${base}/${msg.id}/reactions/${THUMBS}/@me`), 403, 'forbidden');
      expect((await owner.api.get(`${base}/${msg.id}`)).body.content).toBe(msg.content);
    }
    // Moderators still can.
    expect((await owner.api.delete(`${base}/${byLeaver.id}`)).status).toBe(204);
    expect((await admin.api.delete(`${base}/${byRemoved.id}`)).status).toBe(204);
  });

  it('answers each of many concurrent posts to one channel on its own (they share statements)', async () => {
    const room = (await createChannel(owner, 'public')).id;
    const roomBase = `/api/v1/channels/${room}/messages`;
    await member.api.put(`/api/v1/channels/${room}/members/@me`);
    const root = await postMessage(owner, room, 'root');
    const reply = await postMessage(owner, room, 'reply', { parentId: root.id });
    const sends: [TestUser, Record<string, unknown>, number][] = [];
    for (let i = 0; i < 40; i++)
      sends.push([i % 2 ? owner : member, { content: `hi @${owner.username} #${i}`, nonce: `c${i}` }, 201]);
    for (let i = 0; i < 5; i++) sends.push([outsider, { content: `outsider ${i}` }, 403]);
    for (let i = 0; i < 5; i++) sends.push([member, { content: `bad thread ${i}`, parentId: reply.id }, 400]);
    for (let i = 0; i < 5; i++) sends.push([member, { content: `threaded ${i}`, parentId: root.id }, 201]);
    for (let i = 0; i < 5; i++) sends.push([member, { content: 'same', nonce: 'dup' }, 0]);
    const answers = await Promise.all(sends.map(([u, body]) => u.api.post(roomBase, body)));
    answers.forEach((res, i) => {
      const expected = sends[i]![2];
      if (expected) expect({ i, status: res.status }).toEqual({ i, status: expected });
    });
    const dup = answers.slice(-5);
    expect(dup.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 201]);
    expect(new Set(dup.map((r) => r.body.id)).size).toBe(1);
    for (const res of answers.slice(0, 40)) expect(res.body.mentions).toEqual([owner.id]);
    const page = await owner.api.get(`${roomBase}?limit=100`);
    // root, reply, 40 posts, 5 thread replies, 1 of the duplicates.
    expect(page.body).toHaveLength(2 + 40 + 5 + 1);
    expect(new Set(page.body.map((m: { id: string }) => m.id)).size).toBe(page.body.length);
  });

  it('walks 260 messages by before pages exactly once in order, and after pages oldest first', async () => {
    const ch = await createChannel(owner, 'public');
    const path = `/api/v1/channels/${ch.id}/messages`;
    const posted = await inBatches(
      Array.from({ length: 260 }, (_, i) => i),
      10,
      (i) => postMessage(owner, ch.id, `m${i}`),
    );
    const ids = posted.map((m) => m.id).sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
    const newestFirst: string[] = [];
    let before: string | undefined;
    for (;;) {
      const res = await owner.api.get(`${path}?limit=100${before ? `&before=${before}` : ''}`);
      expect(res.status).toBe(200);
      if (res.body.length === 0) break;
      newestFirst.push(...res.body.map((m: { id: string }) => m.id));
      before = newestFirst[newestFirst.length - 1];
    }
    expect(newestFirst).toEqual([...ids].reverse());
    const oldestFirst: string[] = [];
    let after = '0';
    for (;;) {
      const res = await owner.api.get(`${path}?limit=70&after=${after}`);
      if (res.body.length === 0) break;
      oldestFirst.push(...res.body.map((m: { id: string }) => m.id));
      after = oldestFirst[oldestFirst.length - 1]!;
    }
    expect(oldestFirst).toEqual(ids);
    const page = await owner.api.get(`${path}?after=${ids[9]}&limit=3`);
    expect(page.body.map((m: { id: string }) => m.id)).toEqual(ids.slice(10, 13));
    expect((await owner.api.get(path)).body).toHaveLength(50);
    expectError(await owner.api.get(`${path}?limit=101`), 400, 'validation_failed');
    expectError(await owner.api.get(`${path}?before=x`), 400, 'validation_failed');
    expectError(await owner.api.get(`${path}?before=1&after=2`), 400, 'validation_failed');
  });

  it('threads replies under a top-level message of the same channel', async () => {
    const root = await postMessage(owner, channelId, 'root');
    const r1 = await postMessage(member, channelId, 'reply 1', { parentId: root.id });
    const r2 = await postMessage(owner, channelId, 'reply 2', { parentId: root.id });
    expect(r1.parentId).toBe(root.id);
    const replies = await member.api.get(`${base}/${root.id}/replies`);
    expect(replies.body.map((m: { id: string }) => m.id)).toEqual([r1.id, r2.id]);
    expect(
      (await member.api.get(`${base}/${root.id}/replies?after=${r1.id}&limit=1`)).body.map(
        (m: { id: string }) => m.id,
      ),
    ).toEqual([r2.id]);
    expectError(
      await member.api.post(base, { content: 'nested', parentId: r1.id }),
      400,
      'validation_failed',
    );
    const other = await createChannel(owner, 'public');
    expectError(
      await owner.api.post(`/api/v1/channels/${other.id}/messages`, { content: 'x', parentId: root.id }),
      400,
      'validation_failed',
    );
    expectError(await member.api.get(`${base}/123/replies`), 404, 'not_found');
    expectError(await outsider.api.get(`${base}/${root.id}/replies`), 403, 'forbidden');
    // Deleting the root takes the thread with it.
    expect((await owner.api.delete(`${base}/${root.id}`)).status).toBe(204);
    expectError(await member.api.get(`${base}/${r1.id}`), 404, 'not_found');
  });

  it('counts reactions with `me` per caller', async () => {
    const msg = await postMessage(owner, channelId, 'react to me');
    const r = `${base}/${msg.id}/reactions`;
    expect((await owner.api.put(`${r}/${THUMBS}/@me`)).status).toBe(204);
    expect((await owner.api.put(`${r}/${THUMBS}/@me`)).status).toBe(204);
    expect((await member.api.put(`${r}/${THUMBS}/@me`)).status).toBe(204);
    expect((await member.api.put(`${r}/${PARTY}/@me`)).status).toBe(204);
    expect((await owner.api.get(`${base}/${msg.id}`)).body.reactions).toEqual([
      { emoji: '👍', count: 2, me: true },
      { emoji: '🎉', count: 1, me: false },
    ]);
    expect((await member.api.get(`${base}/${msg.id}`)).body.reactions).toEqual([
      { emoji: '👍', count: 2, me: true },
      { emoji: '🎉', count: 1, me: true },
    ]);
    expect((await owner.api.delete(`${r}/${THUMBS}/@me`)).status).toBe(204);
    expect((await owner.api.delete(`${r}/${THUMBS}/@me`)).status).toBe(204);
    const list = await owner.api.get(base);
    expect(list.body.find((m: { id: string }) => m.id === msg.id).reactions).toEqual([
      { emoji: '👍', count: 1, me: false },
      { emoji: '🎉', count: 1, me: false },
    ]);
    for (const bad of ['a', 'ab', encodeURIComponent('👍👍'), '%3Asmile%3A']) {
      expectError(await owner.api.put(`${r}/${bad}/@me`), 400, 'validation_failed');
    }
    expect((await owner.api.put(`${r}/${encodeURIComponent('👩🏽‍💻')}/@me`)).status).toBe(204);
    expectError(await outsider.api.put(`${r}/${THUMBS}/@me`), 403, 'forbidden');
    expectError(await owner.api.put(`${base}/123/reactions/${THUMBS}/@me`), 404, 'not_found');
  });

  it('resolves @username mentions of channel members only', async () => {
    const msg = await postMessage(
      owner,
      channelId,
      `hey @${member.username.toUpperCase()} and @${outsider.username}, also @${owner.username}. mail x@${member.username}.com`,
    );
    expect(msg.mentions).toEqual([member.id, owner.id]);
  });

  it('keeps outsiders of a private channel at 404 on every message route', async () => {
    const priv = await createChannel(owner, 'private');
    const msg = await postMessage(owner, priv.id, 'secret');
    const p = `/api/v1/channels/${priv.id}/messages`;
    for (const res of [
      await outsider.api.get(p),
      await outsider.api.get(`${p}/${msg.id}`),
      await outsider.api.patch(`${p}/${msg.id}`, { content: 'x' }),
      await outsider.api.delete(`${p}/${msg.id}`),
      await admin.api.delete(`${p}/${msg.id}`),
      await outsider.api.put(`${p}/${msg.id}/reactions/${THUMBS}/@me`),
      await outsider.api.get(`${p}/${msg.id}/replies`),
    ]) {
      expectError(res, 404, 'not_found');
    }
  });
});

describeWithPostgres('idempotent sends across replicas', () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await startStack(3);
  });
  afterAll(() => stack.close());

  it('stores one message for 20 concurrent sends of one nonce over three servers', async () => {
    const apis = stack.servers.map((s) => new Api(s.url));
    const author = await registerUser(apis[0]!);
    const ch = await createChannel(author, 'public');
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        apis[i % 3]!.as(author.token).post(`/api/v1/channels/${ch.id}/messages`, {
          content: 'exactly once',
          nonce: 'retry-storm',
        }),
      ),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 200)).toHaveLength(19);
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
    const list = await apis[2]!.as(author.token).get(`/api/v1/channels/${ch.id}/messages`);
    expect(list.body).toHaveLength(1);
    expect(list.body[0].id).toBe(results[0]!.body.id);
  });
});
