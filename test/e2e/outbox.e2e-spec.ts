import { Client } from 'pg';
import { Api, registerUser, TestUser } from '../support/api';
import { BusTap } from '../support/bus-tap';
import { createChannel, postMessage } from '../support/chat';
import { describeWithCluster } from '../support/describe';
import { startStack, TestStack } from '../support/server';

interface Row {
  id: string;
  type: string;
  channel_id: string;
  seq: string;
  payload: any;
  notify_user_ids: string[];
}

describeWithCluster('outbox: stored events and their delivery on the bus', () => {
  let stack: TestStack;
  let db: Client;
  let tap: BusTap;
  let apis: Api[];
  let owner: TestUser;
  let member: TestUser;

  beforeAll(async () => {
    stack = await startStack(3);
    db = new Client({ connectionString: stack.env.CARIOS_DATABASE_URL });
    await db.connect();
    tap = await BusTap.open(stack.env.CARIOS_REDIS_URL!, stack.env.CARIOS_REDIS_PREFIX!);
    apis = stack.servers.map((s) => new Api(s.url));
    owner = await registerUser(apis[0]!);
    member = await registerUser(apis[1]!);
  });
  afterAll(async () => {
    await tap.close();
    await db.end();
    await stack.close();
  });

  const rows = async (channelId: string): Promise<Row[]> =>
    (
      await db.query<Row>(
        `SELECT id::text, type, channel_id::text, seq::text, payload, notify_user_ids::text[] AS notify_user_ids
           FROM outbox o WHERE channel_id = $1 ORDER BY o.seq`,
        [channelId],
      )
    ).rows;

  const pendingOf = async (channelId: string) =>
    Number(
      (
        await db.query(
          'SELECT count(*) AS n FROM outbox_pending p JOIN outbox o ON o.id = p.id WHERE o.channel_id = $1',
          [channelId],
        )
      ).rows[0].n,
    );

  /** Waits until every stored event of the channel was seen on its channel topic. */
  async function delivered(channelId: string): Promise<Row[]> {
    const stored = await rows(channelId);
    const ids = new Set(stored.map((r) => r.id));
    await tap.waitUntil(
      (events) =>
        [...ids].every((id) => events.some((e) => e.id === id && e.topic === `channel:${channelId}`)),
      `the events of channel ${channelId}`,
    );
    return stored;
  }

  it('stores each write as one event with the next seq, and publishes exactly what it stored', async () => {
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

    const all = await delivered(ch.id);
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
    // Per channel: seq 1, 2, 3... in commit order, which is also id order.
    expect(all.map((r) => Number(r.seq))).toEqual(all.map((_, i) => i + 1));
    expect([...all].sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1)).map((r) => r.id)).toEqual(
      all.map((r) => r.id),
    );
    const [channel] = (await db.query('SELECT last_seq::int AS n FROM channels WHERE id = $1', [ch.id])).rows;
    expect(channel.n).toBe(all.length);

    // What went on the bus is the stored event: same id, type, seq and data.
    const onBus = tap.on(`channel:${ch.id}`);
    for (const row of all) {
      const published = onBus.filter((e) => e.id === row.id);
      expect(published.length).toBeGreaterThanOrEqual(1);
      expect(published[0]).toMatchObject({
        type: row.type,
        channelId: ch.id,
        seq: Number(row.seq),
        data: row.payload,
        createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      });
    }
    const typing = onBus.filter((e) => e.type === 'typing.started');
    expect(typing).toHaveLength(1);
    expect(typing[0]!.seq).toBeUndefined();

    // The joiner and the leaver hear of it on their own topic too.
    await tap.waitUntil(
      (events) => events.filter((e) => e.topic === `user:${member.id}` && e.channelId === ch.id).length >= 2,
      'the member events on the user topic',
    );
    expect(
      tap
        .on(`user:${member.id}`)
        .filter((e) => e.channelId === ch.id)
        .map((e) => e.type),
    ).toEqual(['member.joined', 'member.left']);
    const byType = Object.fromEntries(all.map((r) => [r.type, r]));
    expect(byType['message.created']!.payload).toEqual({
      id: msg.id,
      channelId: ch.id,
      author: { id: member.id, username: member.username, displayName: member.username },
      content: 'hello',
      nonce: 'n1',
      parentId: null,
      attachments: [],
      mentions: [],
      reactions: [],
      createdAt: expect.any(String),
      editedAt: null,
    });
    expect(byType['reaction.added']!.payload).toEqual({
      channelId: ch.id,
      messageId: msg.id,
      userId: owner.id,
      emoji: '👍',
    });
    expect(byType['channel.archived']!.payload).toMatchObject({ id: ch.id, archived: true, topic: 'news' });
  });

  it('notifies every member of a new direct channel on their own topic', async () => {
    const res = await owner.api.post('/api/v1/dms', { userIds: [member.id] });
    expect(res.status).toBe(201);
    expect((await owner.api.post('/api/v1/dms', { userIds: [member.id] })).status).toBe(200);
    const all = await delivered(res.body.id);
    expect(all.map((r) => [r.type, r.seq])).toEqual([['channel.created', '1']]);
    for (const user of [owner, member]) {
      await tap.waitUntil(
        (events) => events.some((e) => e.topic === `user:${user.id}` && e.id === all[0]!.id),
        `channel.created on user:${user.id}`,
      );
    }
  });

  it('publishes an event its writer never published (a replica dying after its commit)', async () => {
    const ch = await createChannel(owner, 'public');
    await delivered(ch.id);
    // What a writer leaves when it dies between its commit and its publish: the event, still pending.
    const { rows: made } = await db.query<{ event_id: string; event_seq: string }>(
      `SELECT event_id::text, event_seq::text FROM append_event($1, 'channel.updated', '{"stored":"by hand"}', '{}')`,
      [ch.id],
    );
    const eventId = made[0]!.event_id;
    expect(made[0]!.event_seq).toBe('2');
    await tap.waitUntil(
      (events) => events.some((e) => e.id === eventId),
      'the sweeper to publish the pending event',
    );
    const published = tap.events.find((e) => e.id === eventId)!;
    expect(published).toMatchObject({
      type: 'channel.updated',
      channelId: ch.id,
      seq: 2,
      data: { stored: 'by hand' },
    });
    // ...and it is struck off, so it is not published again and again.
    const deadline = Date.now() + 10_000;
    while ((await db.query('SELECT 1 FROM outbox_pending WHERE id = $1', [eventId])).rows.length > 0) {
      if (Date.now() > deadline) throw new Error('the swept event stayed pending');
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  it('keeps the sequence of a channel gapless under 20 concurrent writers on 3 replicas', async () => {
    const ch = await createChannel(owner, 'public');
    const writers = await Promise.all(Array.from({ length: 20 }, (_, i) => registerUser(apis[i % 3]!)));
    await Promise.all(
      writers.map((w, i) => apis[i % 3]!.as(w.token).put(`/api/v1/channels/${ch.id}/members/@me`)),
    );
    const thumbs = encodeURIComponent('👍');
    await Promise.all(
      writers.map(async (w, i) => {
        for (let k = 0; k < 6; k++) {
          const api = apis[(i + k) % 3]!.as(w.token);
          const posted = await api.post(`/api/v1/channels/${ch.id}/messages`, {
            content: `w${i} m${k}`,
            nonce: `w${i}-${k}`,
          });
          expect(posted.status).toBe(201);
          // A retry of the same post: no second message, no event, no seq.
          expect(
            (
              await api.post(`/api/v1/channels/${ch.id}/messages`, {
                content: `w${i} m${k}`,
                nonce: `w${i}-${k}`,
              })
            ).status,
          ).toBe(200);
          if (k % 2 === 0)
            expect(
              (await api.put(`/api/v1/channels/${ch.id}/messages/${posted.body.id}/reactions/${thumbs}/@me`))
                .status,
            ).toBe(204);
          if (k % 3 === 0)
            expect(
              (await api.patch(`/api/v1/channels/${ch.id}/messages/${posted.body.id}`, { content: 'edited' }))
                .status,
            ).toBe(200);
        }
      }),
    );
    const all = await delivered(ch.id);
    // channel.created, 20 joins, 120 posts, 60 reactions, 40 edits.
    expect(all).toHaveLength(1 + 20 + 120 + 60 + 40);
    expect(all.map((r) => Number(r.seq))).toEqual(all.map((_, i) => i + 1));
    expect([...all].sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1)).map((r) => r.seq)).toEqual(
      all.map((r) => r.seq),
    );
    const seqs = new Map(tap.on(`channel:${ch.id}`).map((e) => [e.id, e.seq]));
    expect(all.every((r) => seqs.get(r.id) === Number(r.seq))).toBe(true);
    // Every published event is struck off the pending list (in batches), so the sweeper has nothing to redo.
    const deadline = Date.now() + 10_000;
    while ((await pendingOf(ch.id)) > 0) {
      if (Date.now() > deadline) throw new Error('published events stayed pending');
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  it('mints ids that never go backwards, also when the sequence passes 2^22 within one millisecond', async () => {
    // The old next_snowflake() took the sequence modulo 2^22: past that, ids of the same millisecond went backwards.
    for (const boundary of [1n << 22n, 5n << 22n]) {
      await db.query('SELECT setval($1, $2)', ['snowflake_seq', (boundary - 500n).toString()]);
      const { rows: ids } = await db.query<{ id: string; at: string }>(
        `SELECT next_snowflake()::text AS id FROM generate_series(1, 1000)`,
      );
      const values = ids.map((r) => BigInt(r.id));
      for (let i = 1; i < values.length; i++) expect(values[i]! > values[i - 1]!).toBe(true);
    }
    // Through the API too: posts across three replicas while the sequence crosses the next boundary.
    await db.query('SELECT setval($1, $2)', ['snowflake_seq', ((9n << 22n) - 20n).toString()]);
    const ch = await createChannel(owner, 'public');
    for (let round = 0; round < 5; round++) {
      await Promise.all(
        apis.map((api, i) => postMessage({ ...owner, api: api.as(owner.token) }, ch.id, `r${round} ${i}`)),
      );
    }
    const stored = await rows(ch.id);
    expect(stored).toHaveLength(1 + 15);
    // Commit order (seq) is id order, across the boundary.
    expect([...stored].sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1)).map((r) => r.seq)).toEqual(
      stored.map((r) => r.seq),
    );
    const { rows: messages } = await db.query<{ id: string }>(
      "SELECT m.id::text FROM messages m JOIN outbox o ON o.payload->>'id' = m.id::text WHERE m.channel_id = $1 ORDER BY o.seq",
      [ch.id],
    );
    const messageIds = messages.map((m) => BigInt(m.id));
    for (let i = 1; i < messageIds.length; i++) expect(messageIds[i]! > messageIds[i - 1]!).toBe(true);
  });
});
