import { Client } from 'pg';
import { Api, registerUser, TestUser } from '../support/api';
import { createChannel, postMessage } from '../support/chat';
import { describeWithPostgres } from '../support/describe';
import { startStack, TestStack } from '../support/server';

interface Row {
  id: string;
  type: string;
  channel_id: string;
  payload: any;
  notify_user_ids: string[];
  published_at: Date | null;
}

describeWithPostgres('outbox', () => {
  let stack: TestStack;
  let db: Client;
  let api: Api;
  let owner: TestUser;
  let member: TestUser;

  beforeAll(async () => {
    stack = await startStack(1);
    db = new Client({ connectionString: stack.env.CARIOS_DATABASE_URL });
    await db.connect();
    api = new Api(stack.servers[0]!.url);
    owner = await registerUser(api);
    member = await registerUser(api);
  });
  afterAll(async () => {
    await db.end();
    await stack.close();
  });

  const rows = async (channelId: string): Promise<Row[]> =>
    (
      await db.query<Row>(
        'SELECT id::text, type, channel_id::text, payload, notify_user_ids::text[] AS notify_user_ids, published_at FROM outbox WHERE channel_id = $1 ORDER BY id',
        [channelId],
      )
    ).rows;

  async function waitPublished(channelId: string): Promise<Row[]> {
    const deadline = Date.now() + 5000;
    for (;;) {
      const all = await rows(channelId);
      if (all.every((r) => r.published_at !== null) || Date.now() > deadline) return all;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('writes each event exactly once per write, in order, and publishes all of them', async () => {
    const ch = await createChannel(owner, 'public');
    const base = `/api/v1/channels/${ch.id}`;
    const thumbs = encodeURIComponent('👍');
    expect((await member.api.put(`${base}/members/@me`)).status).toBe(204);
    expect((await member.api.put(`${base}/members/@me`)).status).toBe(204); // no-op: no event
    expect((await owner.api.patch(base, { topic: 'news' })).status).toBe(200);
    expect((await owner.api.patch(base, { topic: 'news' })).status).toBe(200); // unchanged: no event
    const msg = await postMessage(member, ch.id, 'hello', { nonce: 'n1' });
    expect((await member.api.post(`${base}/messages`, { content: 'hello', nonce: 'n1' })).status).toBe(200); // replay: no event
    expect((await member.api.post(`${base}/messages`, { content: 'other', nonce: 'n1' })).status).toBe(422);
    expect((await member.api.patch(`${base}/messages/${msg.id}`, { content: 'hello!' })).status).toBe(200);
    expect((await owner.api.put(`${base}/messages/${msg.id}/reactions/${thumbs}/@me`)).status).toBe(204);
    expect((await owner.api.put(`${base}/messages/${msg.id}/reactions/${thumbs}/@me`)).status).toBe(204);
    expect((await owner.api.delete(`${base}/messages/${msg.id}/reactions/${thumbs}/@me`)).status).toBe(204);
    expect((await owner.api.delete(`${base}/messages/${msg.id}/reactions/${thumbs}/@me`)).status).toBe(204);
    expect((await owner.api.delete(`${base}/messages/${msg.id}`)).status).toBe(204);
    expect((await owner.api.post(`${base}/typing`)).status).toBe(204); // typing is never stored
    expect((await member.api.delete(`${base}/members/@me`)).status).toBe(204);
    expect((await owner.api.delete(base)).status).toBe(204);
    expect((await owner.api.delete(base)).status).toBe(204); // already archived: no event

    const all = await waitPublished(ch.id);
    expect(all.map((r) => r.type)).toEqual([
      'channel.created',
      'member.joined',
      'channel.updated',
      'message.created',
      'message.updated',
      'reaction.added',
      'reaction.removed',
      'message.deleted',
      'member.left',
      'channel.archived',
    ]);
    expect(all.every((r) => r.published_at !== null)).toBe(true);
    const byType = Object.fromEntries(all.map((r) => [r.type, r]));
    expect(byType['channel.created']!.notify_user_ids).toEqual([owner.id]);
    expect(byType['member.joined']!.notify_user_ids).toEqual([member.id]);
    expect(byType['member.joined']!.payload).toMatchObject({
      channelId: ch.id,
      userId: member.id,
      role: 'member',
    });
    expect(byType['member.left']!.notify_user_ids).toEqual([member.id]);
    expect(byType['message.created']!.payload).toMatchObject({
      id: msg.id,
      channelId: ch.id,
      content: 'hello',
      nonce: 'n1',
      reactions: [],
    });
    expect(byType['message.updated']!.payload).toMatchObject({ id: msg.id, content: 'hello!' });
    expect(byType['reaction.added']!.payload).toEqual({
      channelId: ch.id,
      messageId: msg.id,
      userId: owner.id,
      emoji: '👍',
    });
    expect(byType['message.deleted']!.payload).toEqual({ id: msg.id, channelId: ch.id });
    expect(byType['channel.archived']!.payload).toMatchObject({ id: ch.id, archived: true, topic: 'news' });
  });

  it('notifies every member of a new direct channel', async () => {
    const res = await owner.api.post('/api/v1/dms', { userIds: [member.id] });
    expect(res.status).toBe(201);
    expect((await owner.api.post('/api/v1/dms', { userIds: [member.id] })).status).toBe(200);
    const all = await waitPublished(res.body.id);
    expect(all.map((r) => r.type)).toEqual(['channel.created']);
    expect([...all[0]!.notify_user_ids].sort()).toEqual([owner.id, member.id].sort());
  });

  it('publishes rows left unpublished (e.g. by a crashed replica) by polling', async () => {
    const ch = await createChannel(owner, 'public');
    await waitPublished(ch.id);
    await db.query(
      `INSERT INTO outbox (type, channel_id, payload, notify_user_ids) VALUES ('channel.updated', $1, '{}'::jsonb, '{}')`,
      [ch.id],
    );
    const all = await waitPublished(ch.id);
    expect(all).toHaveLength(2);
    expect(all.every((r) => r.published_at !== null)).toBe(true);
  });
});
