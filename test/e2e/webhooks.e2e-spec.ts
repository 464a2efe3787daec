import { Client } from 'pg';
import { Api, expectError, registerUser, TestUser } from '../support/api';
import { createChannel, postMessage } from '../support/chat';
import { describeWithPostgres } from '../support/describe';
import { startStack, TestStack } from '../support/server';
import { eventually } from '../support/wait';
import { WebhookReceiver } from '../support/webhook-receiver';

/**
 * Outgoing webhooks end to end: two replicas on one Postgres delivering to a loopback receiver
 * (private networks allowed for it), every delivery verified with the `standardwebhooks` package.
 */
describeWithPostgres('outgoing webhooks', () => {
  let stack: TestStack;
  let db: Client;
  let receiver: WebhookReceiver;
  let api: Api;
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    stack = await startStack(2, {
      env: {
        CARIOS_WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
        CARIOS_WEBHOOK_RETRY_SCHEDULE: '200ms,200ms,300ms,300ms,500ms,500ms,1s,1s,1s,1s,1s,1s',
        CARIOS_WEBHOOK_DISABLE_AFTER: '3s',
        CARIOS_WEBHOOK_SECRET_KEY: 'test-key-test-key-test-key-test-key-0123',
      },
    });
    db = new Client({ connectionString: stack.env.CARIOS_DATABASE_URL });
    await db.connect();
    receiver = await WebhookReceiver.start();
    api = new Api(stack.servers[0]!.url);
    alice = await registerUser(api);
    bob = await registerUser(new Api(stack.servers[1]!.url));
  });
  afterAll(async () => {
    await receiver.close();
    await db.end();
    await stack.close();
  });

  /** Creates a webhook delivering to its own path of the receiver; its secret verifies there. */
  async function hook(
    owner: TestUser,
    name: string,
    body: Record<string, unknown> = {},
  ): Promise<{ id: string; secret: string; path: string }> {
    const path = `/w/${name}`;
    const res = await owner.api.post('/api/v1/webhooks', {
      url: `${receiver.url}${path}`,
      events: ['message.created'],
      ...body,
    });
    expect(res.status).toBe(201);
    receiver.secrets.set(path, [res.body.secret]);
    return { id: res.body.id, secret: res.body.secret, path };
  }

  const log = async (owner: TestUser, id: string) =>
    (await owner.api.get(`/api/v1/webhooks/${id}/deliveries?limit=100`)).body as any[];

  it('creates, lists, changes and deletes webhooks; the secret is shown once; bad input is a 400', async () => {
    const ch = await createChannel(alice);
    const created = await alice.api.post('/api/v1/webhooks', {
      url: 'https://example.com/hook?x=1',
      events: ['message.created', 'member.joined'],
      channelIds: [ch.id],
      description: 'ci',
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      url: 'https://example.com/hook?x=1',
      events: ['message.created', 'member.joined'],
      channelIds: [ch.id],
      description: 'ci',
      enabled: true,
      disabledReason: null,
    });
    expect(created.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(created.body.secret.slice(6), 'base64').length).toBeGreaterThanOrEqual(24);
    const id = created.body.id;
    // At rest the secret is sealed (CARIOS_WEBHOOK_SECRET_KEY is set): not the one shown.
    const stored = (await db.query('SELECT secret FROM webhooks WHERE id = $1', [id])).rows[0].secret;
    expect(stored).not.toContain(created.body.secret.slice(6));

    const listed = await alice.api.get('/api/v1/webhooks');
    expect(listed.body.map((w: any) => w.id)).toContain(id);
    expect(JSON.stringify(listed.body)).not.toContain('whsec_');
    expect((await alice.api.get(`/api/v1/webhooks/${id}`)).body.secret).toBeUndefined();
    expectError(await bob.api.get(`/api/v1/webhooks/${id}`), 404, 'not_found');

    const patched = await alice.api.patch(`/api/v1/webhooks/${id}`, {
      events: ['reaction.added'],
      channelIds: null,
      enabled: false,
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ events: ['reaction.added'], channelIds: null, enabled: false });

    for (const bad of [
      { url: 'ftp://example.com/x', events: ['message.created'] },
      { url: 'https://user:pw@example.com/x', events: ['message.created'] },
      { url: 'not a url', events: ['message.created'] },
      { url: 'https://example.com/x', events: ['typing.started'] },
      { url: 'https://example.com/x', events: [] },
      { url: 'https://example.com/x', events: ['message.created'], extra: 1 },
      { url: 'https://example.com/x', events: ['message.created'], channelIds: ['1'] },
    ])
      expectError(await alice.api.post('/api/v1/webhooks', bad), 400, 'validation_failed');

    expect((await alice.api.delete(`/api/v1/webhooks/${id}`)).status).toBe(204);
    expectError(await alice.api.get(`/api/v1/webhooks/${id}`), 404, 'not_found');
    expectError(await alice.api.delete(`/api/v1/webhooks/${id}`), 404, 'not_found');
  });

  it('a receiver answering 500 for a while gets every event, one webhook-id per event across attempts, each signed', async () => {
    const ch = await createChannel(alice);
    const h = await hook(alice, 'flaky', { channelIds: [ch.id] });
    const failing = new Set<string>();
    receiver.answer = (d) => {
      if (d.path !== h.path) return 200;
      // Each event fails twice, then succeeds.
      const seen = receiver.to(h.path).filter((x) => x.webhookId === d.webhookId).length;
      if (seen <= 2) failing.add(d.webhookId);
      return seen <= 2 ? 500 : 200;
    };
    const posted = [];
    for (let i = 0; i < 5; i++)
      posted.push(await postMessage(i % 2 ? bob : alice, ch.id, `flaky ${i}`).catch(() => undefined));
    // bob is not a member: only alice's posts exist.
    const mine = posted.filter((m): m is NonNullable<typeof m> => !!m);
    expect(mine).toHaveLength(3);
    await eventually(async () => {
      const ok = new Set(receiver.to(h.path).map((d) => d.payload.data?.id));
      return mine.every((m) => ok.has(m.id)) && receiver.to(h.path).length >= mine.length * 3;
    }, 'every message delivered after two failures each');
    const got = receiver.to(h.path);
    for (const d of got) {
      expect(d.verifiedWith).toEqual([h.secret]);
      expect(d.payload).toEqual({
        type: 'message.created',
        timestamp: expect.any(String),
        data: expect.any(Object),
      });
    }
    // One webhook-id per event, the same on each of its three attempts; it is the outbox event's id.
    const byMessage = new Map<string, Set<string>>();
    for (const d of got)
      byMessage.set(d.payload.data.id, (byMessage.get(d.payload.data.id) ?? new Set()).add(d.webhookId));
    for (const m of mine) expect(byMessage.get(m.id)?.size).toBe(1);
    const ids = await db.query(
      `SELECT id::text, payload->>'id' AS mid FROM outbox WHERE channel_id = $1 AND type = 'message.created'`,
      [ch.id],
    );
    for (const r of ids.rows) expect([...byMessage.get(r.mid)!]).toEqual([r.id]);
    expect(got.filter((d) => d.webhookId === ids.rows[0].id)).toHaveLength(3);

    await eventually(async () => (await log(alice, h.id)).length >= 9, 'nine attempts logged');
    const entries = await log(alice, h.id);
    expect(entries[0]).toEqual({
      id: expect.any(String),
      eventId: expect.any(String),
      type: 'message.created',
      attempt: expect.any(Number),
      status: expect.stringMatching(/^(delivered|failed)$/),
      responseStatus: expect.any(Number),
      error: null,
      durationMs: expect.any(Number),
      createdAt: expect.any(String),
    });
    for (const eventId of ids.rows.map((r) => r.id)) {
      const attempts = entries.filter((e) => e.eventId === eventId).sort((a, b) => a.attempt - b.attempt);
      expect(attempts.map((a) => [a.attempt, a.status, a.responseStatus])).toEqual([
        [1, 'failed', 500],
        [2, 'failed', 500],
        [3, 'delivered', 200],
      ]);
    }
    const w = (await alice.api.get(`/api/v1/webhooks/${h.id}`)).body;
    expect(w).toMatchObject({ enabled: true, failingSince: null });
  });

  it('delivers one channel’s events to an endpoint in order while it is healthy', async () => {
    const ch = await createChannel(alice);
    const h = await hook(alice, 'ordered', {
      channelIds: [ch.id],
      events: ['message.created', 'message.updated'],
    });
    const ids: string[] = [];
    await Promise.all(
      Array.from({ length: 3 }, async (_, k) => {
        for (let i = 0; i < 10; i++) ids.push((await postMessage(alice, ch.id, `o${k}-${i}`)).id);
      }),
    );
    await eventually(async () => receiver.to(h.path).length >= 30, 'thirty deliveries');
    const order = receiver.to(h.path).map((d) => d.payload.data.id);
    expect(order).toEqual([...ids].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1)));
  });

  it('after a rotation both secrets sign for the overlap', async () => {
    const ch = await createChannel(alice);
    const h = await hook(alice, 'rotated', { channelIds: [ch.id] });
    const rotated = await alice.api.post(`/api/v1/webhooks/${h.id}/rotate-secret`);
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(h.secret);
    receiver.secrets.set(h.path, [h.secret, rotated.body.secret]);
    await postMessage(alice, ch.id, 'after rotation');
    await eventually(async () => receiver.to(h.path).length === 1, 'the delivery');
    const [d] = receiver.to(h.path);
    expect(d!.signature.split(' ')).toHaveLength(2);
    expect(d!.verifiedWith).toEqual([h.secret, rotated.body.secret]);
    // Once the overlap is over, only the new secret signs.
    await db.query(`UPDATE webhooks SET previous_secret_until = now() - interval '1 second' WHERE id = $1`, [
      h.id,
    ]);
    await postMessage(alice, ch.id, 'after the overlap');
    await eventually(async () => receiver.to(h.path).length === 2, 'the second delivery');
    expect(receiver.to(h.path)[1]!.verifiedWith).toEqual([rotated.body.secret]);
    expect(receiver.to(h.path)[1]!.signature.split(' ')).toHaveLength(1);
  });

  it('a webhook whose owner leaves a private channel receives nothing more from it', async () => {
    const priv = await createChannel(bob, 'private');
    expect((await bob.api.put(`/api/v1/channels/${priv.id}/members/${alice.id}`)).status).toBe(204);
    const control = await createChannel(alice);
    const h = await hook(alice, 'leaver', { events: ['message.created', 'member.left'] });
    await postMessage(bob, priv.id, 'while alice is in');
    await eventually(async () => receiver.to(h.path).length === 1, 'the message while a member');
    // Held back: the receiver answers 503 so a delivery is pending when alice leaves.
    receiver.answer = (d) => (d.path === h.path ? 503 : 200);
    await postMessage(bob, priv.id, 'queued before she leaves');
    await eventually(async () => receiver.to(h.path).length >= 2, 'a failed attempt');
    expect((await alice.api.delete(`/api/v1/channels/${priv.id}/members/@me`)).status).toBe(204);
    receiver.answer = () => 200;
    await postMessage(bob, priv.id, 'after she left');
    const last = await postMessage(alice, control.id, 'control');
    await eventually(
      async () => receiver.to(h.path).some((d) => d.payload.data?.id === last.id),
      'the control message',
    );
    await new Promise((r) => setTimeout(r, 1000));
    const fromPrivate = receiver
      .to(h.path)
      .filter((d) => d.payload.data?.channelId === priv.id && d.payload.type === 'message.created');
    expect(new Set(fromPrivate.map((d) => d.payload.data.content))).toEqual(
      new Set(['while alice is in', 'queued before she leaves']),
    );
    // The held-back one was attempted while she was a member, then skipped at its next attempt.
    const skipped = (await log(alice, h.id)).filter((e) => e.status === 'skipped');
    expect(skipped.length).toBe(1);
    expect(
      fromPrivate
        .filter((d) => d.payload.data.content === 'queued before she leaves')
        .every((d) => d.verifiedWith.length === 1),
    ).toBe(true);
  });

  it('410 disables the endpoint with a reason; the owner re-enables it', async () => {
    const ch = await createChannel(alice);
    const h = await hook(alice, 'gone', { channelIds: [ch.id] });
    receiver.answer = (d) => (d.path === h.path ? 410 : 200);
    await postMessage(alice, ch.id, 'to a gone endpoint');
    await eventually(async () => !(await alice.api.get(`/api/v1/webhooks/${h.id}`)).body.enabled, 'disabled');
    const w = (await alice.api.get(`/api/v1/webhooks/${h.id}`)).body;
    expect(w.disabledReason).toMatch(/410/);
    expect(receiver.to(h.path)).toHaveLength(1);
    // Disabled: events are not queued for it.
    await postMessage(alice, ch.id, 'while disabled');
    receiver.answer = () => 200;
    const re = await alice.api.patch(`/api/v1/webhooks/${h.id}`, { enabled: true });
    expect(re.body).toMatchObject({ enabled: true, disabledReason: null });
    const m = await postMessage(alice, ch.id, 'after re-enabling');
    await eventually(
      async () => receiver.to(h.path).some((d) => d.payload.data.id === m.id),
      'delivered again',
    );
    expect(receiver.to(h.path).map((d) => d.payload.data.content)).toEqual([
      'to a gone endpoint',
      'after re-enabling',
    ]);
  });

  it('an endpoint failing longer than CARIOS_WEBHOOK_DISABLE_AFTER is disabled, and says why', async () => {
    const ch = await createChannel(alice);
    const h = await hook(alice, 'down', { channelIds: [ch.id] });
    receiver.answer = (d) => (d.path === h.path ? 500 : 200);
    await postMessage(alice, ch.id, 'to a broken endpoint');
    await eventually(
      async () => !(await alice.api.get(`/api/v1/webhooks/${h.id}`)).body.enabled,
      'disabled',
      30_000,
    );
    const w = (await alice.api.get(`/api/v1/webhooks/${h.id}`)).body;
    expect(w.disabledReason).toMatch(/failed since .* CARIOS_WEBHOOK_DISABLE_AFTER/);
    expect(receiver.to(h.path).length).toBeGreaterThan(3);
    receiver.answer = () => 200;
  });

  it('does not follow redirects; redelivery sends an event again with the same webhook-id', async () => {
    const ch = await createChannel(alice);
    const h = await hook(alice, 'redirect', { channelIds: [ch.id] });
    const target = await hook(alice, 'redirect-target', { channelIds: [ch.id] });
    await alice.api.patch(`/api/v1/webhooks/${target.id}`, { enabled: false });
    receiver.answer = (d) =>
      d.path === h.path ? { status: 307, headers: { location: `${receiver.url}${target.path}` } } : 200;
    await postMessage(alice, ch.id, 'redirected');
    await eventually(async () => (await log(alice, h.id)).length >= 2, 'two attempts');
    expect(receiver.to(target.path)).toHaveLength(0);
    expect((await log(alice, h.id))[0]).toMatchObject({ status: 'failed', responseStatus: 307 });

    receiver.answer = () => 200;
    await eventually(async () => (await log(alice, h.id)).some((e) => e.status === 'delivered'), 'delivered');
    const first = receiver.to(h.path)[0]!;
    const eventId = first.webhookId;
    const before = receiver.to(h.path).length;
    expect((await alice.api.post(`/api/v1/webhooks/${h.id}/deliveries/${eventId}/redeliver`)).status).toBe(
      202,
    );
    await eventually(async () => receiver.to(h.path).length === before + 1, 'redelivered');
    const again = receiver.to(h.path).at(-1)!;
    expect(again.webhookId).toBe(eventId);
    expect(again.body).toBe(first.body);
    expect(again.verifiedWith).toEqual([h.secret]);
    expectError(await alice.api.post(`/api/v1/webhooks/${h.id}/deliveries/123/redeliver`), 404, 'not_found');
    expectError(
      await bob.api.post(`/api/v1/webhooks/${h.id}/deliveries/${eventId}/redeliver`),
      404,
      'not_found',
    );
  });

  it('delivers every subscribed event type of the channels the owner is in', async () => {
    // Subscribed to all of these, and caused in this order below.
    const expected = [
      'channel.created',
      'channel.updated',
      'member.joined',
      'message.created',
      'message.updated',
      'reaction.added',
      'message.deleted',
      'member.left',
      'channel.archived',
    ];
    const h = await hook(alice, 'all', { events: expected });
    const ch = await createChannel(alice);
    const base = `/api/v1/channels/${ch.id}`;
    await alice.api.patch(base, { topic: 'x' });
    await bob.api.put(`${base}/members/@me`);
    const m = await postMessage(bob, ch.id, 'hi');
    await bob.api.patch(`${base}/messages/${m.id}`, { content: 'hi!' });
    await alice.api.put(`${base}/messages/${m.id}/reactions/${encodeURIComponent('👍')}/@me`);
    await alice.api.delete(`${base}/messages/${m.id}`);
    await bob.api.delete(`${base}/members/@me`);
    await alice.api.delete(base);
    await eventually(async () => receiver.to(h.path).length >= expected.length, 'every event');
    expect(receiver.to(h.path).map((d) => d.payload.type)).toEqual(expected);
    expect(receiver.to(h.path).every((d) => d.verifiedWith.length === 1)).toBe(true);
  });

  it('counts deliveries by outcome and shows the oldest pending delivery’s age on /metrics', async () => {
    const text = await (await fetch(`${stack.servers[0]!.url}/metrics`)).text();
    const delivered = /cariosan_webhook_deliveries_total\{outcome="delivered"\} (\d+)/.exec(text);
    expect(Number(delivered?.[1])).toBeGreaterThan(0);
    expect(text).toMatch(/cariosan_webhook_deliveries_total\{outcome="failed"\} [1-9]/);
    expect(text).toMatch(/cariosan_webhook_oldest_pending_seconds \d/);
    expect(text).toMatch(/cariosan_webhook_first_attempt_lag_seconds_count [1-9]/);
  });
});
