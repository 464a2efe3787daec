import type { TestUser } from './api';

/** Factory: a channel created by `owner`. */
export async function createChannel(
  owner: TestUser,
  kind: 'public' | 'private' = 'public',
  name = `c-${Math.random().toString(36).slice(2, 8)}`,
) {
  const res = await owner.api.post('/api/v1/channels', { name, kind });
  if (res.status !== 201) throw new Error(`create channel failed: ${res.status} ${res.text}`);
  return res.body as { id: string; name: string; kind: string; ownerId: string };
}

/** Factory: a message posted by `author`. */
export async function postMessage(
  author: TestUser,
  channelId: string,
  content: string,
  extra: Record<string, unknown> = {},
) {
  const res = await author.api.post(`/api/v1/channels/${channelId}/messages`, { content, ...extra });
  if (res.status !== 201) throw new Error(`post failed: ${res.status} ${res.text}`);
  return res.body as { id: string; content: string; mentions: string[]; parentId: string | null };
}

/** Runs `fn` over `items` with at most `width` in flight. */
export async function inBatches<T, R>(items: T[], width: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += width)
    out.push(...(await Promise.all(items.slice(i, i + width).map(fn))));
  return out;
}
