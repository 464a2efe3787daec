import { Api, ApiResponse, expectError, registerUser, TestUser } from '../support/api';
import { createChannel, postMessage } from '../support/chat';
import { startStack, TestStack } from '../support/server';
import { eventually } from '../support/wait';
import { WebhookReceiver } from '../support/webhook-receiver';

/** Incoming webhooks: created by members, posting as their own bot through the usual pipeline. */
describe('incoming webhooks', () => {
  let stack: TestStack;
  let api: Api;
  let owner: TestUser;
  let member: TestUser;
  let outsider: TestUser;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    stack = await startStack(1, {
      env: { CARIOS_WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true', CARIOS_RATE_LIMIT_REQUESTS: '40' },
    });
    api = new Api(stack.servers[0]!.url);
    owner = await registerUser(api);
    member = await registerUser(api);
    outsider = await registerUser(api);
    receiver = await WebhookReceiver.start();
  });
  afterAll(async () => {
    await receiver.close();
    await stack.close();
  });

  it('a member creates one; posting to its URL posts as its bot, through the same pipeline as any post', async () => {
    const ch = await createChannel(owner, 'private');
    expect((await owner.api.put(`/api/v1/channels/${ch.id}/members/${member.id}`)).status).toBe(204);
    const out = await owner.api.post('/api/v1/webhooks', {
      url: `${receiver.url}/out`,
      events: ['message.created'],
      channelIds: [ch.id],
    });
    receiver.secrets.set('/out', [out.body.secret]);

    const created = await member.api.post(`/api/v1/channels/${ch.id}/incoming-webhooks`, { name: 'CI bot' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ channelId: ch.id, name: 'CI bot', createdBy: member.id });
    expect(created.body.token.length).toBeGreaterThanOrEqual(43);
    const url = new URL(created.body.url);
    expect(url.pathname).toBe(`/hooks/${created.body.id}/${created.body.token}`);

    const posted = await fetch(`${api.baseUrl}${url.pathname}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ content: 'build green' }),
    });
    expect(posted.status).toBe(201);
    const message: any = await posted.json();
    expect(message).toMatchObject({
      channelId: ch.id,
      content: 'build green',
      author: { id: created.body.botUserId, displayName: 'CI bot' },
    });
    const bot = (await owner.api.get(`/api/v1/users/${created.body.botUserId}`)).body;
    expect(bot).toMatchObject({ isBot: true, displayName: 'CI bot' });
    const history = (await owner.api.get(`/api/v1/channels/${ch.id}/messages`)).body;
    expect(history[0]).toMatchObject({ id: message.id, author: { id: created.body.botUserId } });
    await eventually(
      async () => receiver.to('/out').some((d) => d.payload.data.id === message.id),
      'the outgoing webhook',
    );
    expect(receiver.to('/out')[0]!.verifiedWith).toHaveLength(1);

    // `username` renames the bot.
    const renamed = await fetch(`${api.baseUrl}${url.pathname}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ content: 'deploy done', username: 'Deployer' }),
    });
    expect(renamed.status).toBe(201);
    expect(((await renamed.json()) as any).author.displayName).toBe('Deployer');

    const listed = await owner.api.get(`/api/v1/channels/${ch.id}/incoming-webhooks`);
    expect(listed.body.map((h: any) => h.id)).toEqual([created.body.id]);
    expect(JSON.stringify(listed.body)).not.toContain(created.body.token);
    expectError(await outsider.api.get(`/api/v1/channels/${ch.id}/incoming-webhooks`), 404, 'not_found');
    expectError(
      await outsider.api.post(`/api/v1/channels/${ch.id}/incoming-webhooks`, { name: 'x' }),
      404,
      'not_found',
    );

    // The owner deletes it: the URL answers 404 and the bot leaves the channel.
    expect(
      (await owner.api.delete(`/api/v1/channels/${ch.id}/incoming-webhooks/${created.body.id}`)).status,
    ).toBe(204);
    const gone = await api.post(url.pathname, { content: 'after delete' });
    expectError(gone, 404, 'not_found');
  });

  it('refuses a wrong token or bad input, and is rate limited', async () => {
    const ch = await createChannel(owner);
    const created = await owner.api.post(`/api/v1/channels/${ch.id}/incoming-webhooks`, { name: 'alerts' });
    const { id, token } = created.body;
    expectError(await api.post(`/hooks/${id}/${token}x`, { content: 'x' }), 404, 'not_found');
    expectError(await api.post(`/hooks/${id}/${'a'.repeat(43)}`, { content: 'x' }), 404, 'not_found');
    expectError(await api.post(`/hooks/999/${token}`, { content: 'x' }), 404, 'not_found');
    expectError(await api.post(`/hooks/${id}/${token}`, { content: '' }), 400, 'validation_failed');
    expectError(
      await api.post(`/hooks/${id}/${token}`, { content: 'x', extra: 1 }),
      400,
      'validation_failed',
    );
    expectError(
      await owner.api.post(`/api/v1/channels/${ch.id}/incoming-webhooks`, { name: '' }),
      400,
      'validation_failed',
    );
    expectError(
      await outsider.api.post(`/api/v1/channels/${ch.id}/incoming-webhooks`, { name: 'x' }),
      403,
      'forbidden',
    );
    // A member who did not create it cannot delete it; only its creator, the owner or an admin.
    await member.api.put(`/api/v1/channels/${ch.id}/members/@me`);
    expectError(
      await member.api.delete(`/api/v1/channels/${ch.id}/incoming-webhooks/${id}`),
      403,
      'forbidden',
    );

    // Archived: posting through it is refused like any post.
    const ch2 = await createChannel(owner);
    const h2 = (await owner.api.post(`/api/v1/channels/${ch2.id}/incoming-webhooks`, { name: 'late' })).body;
    await postMessage(owner, ch2.id, 'before archiving');
    expect((await owner.api.delete(`/api/v1/channels/${ch2.id}`)).status).toBe(204);
    expectError(
      await new Api(stack.servers[0]!.url).post(`/hooks/${h2.id}/${h2.token}`, { content: 'x' }),
      403,
      'forbidden',
    );

    let limited: ApiResponse | undefined;
    for (let i = 0; i < 45 && !limited; i++) {
      const res = await api.post(`/hooks/${id}/${token}`, { content: `n${i}` });
      expect(res.headers.get('ratelimit-limit')).toBe('40');
      if (res.status === 429) limited = res;
      else expect(res.status).toBe(201);
    }
    if (!limited) throw new Error('never rate limited');
    expectError(limited, 429, 'rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});
