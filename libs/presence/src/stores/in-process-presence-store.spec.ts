import { InProcessPresenceStore } from './in-process-presence-store';

describe('InProcessPresenceStore', () => {
  let now = 1_000_000;
  const store = () => new InProcessPresenceStore(() => now);
  const session = (userId: string, sessionId: string, startedAt = now) => ({ userId, sessionId, startedAt });

  it('announces online once for several sessions and offline once when the last goes', async () => {
    const s = store();
    const first = await s.connect(session('u', 'a'), 1000, 16);
    expect(first.changes.map((c) => c.status)).toEqual(['online']);
    expect((await s.connect(session('u', 'b'), 1000, 16)).changes).toEqual([]);
    expect(await s.disconnect('u', 'a', 0)).toBeUndefined();
    expect((await s.disconnect('u', 'b', 0))?.status).toBe('offline');
    expect((await s.statuses(['u'])).get('u')).toBe('offline');
  });

  it('a session not refreshed expires and the sweep announces it, once', async () => {
    const s = store();
    await s.connect(session('u', 'a'), 1000, 16);
    now += 999;
    expect(await s.sweep(10)).toEqual([]);
    now += 2;
    expect((await s.sweep(10)).map((c) => [c.userId, c.status])).toEqual([['u', 'offline']]);
    expect(await s.sweep(10)).toEqual([]);
  });

  it('a refresh keeps it, and re-adds what it lost', async () => {
    const s = store();
    await s.connect(session('u', 'a'), 1000, 16);
    now += 900;
    await s.refresh([session('u', 'a')], 1000);
    now += 900;
    expect(await s.sweep(10)).toEqual([]);
    const fresh = store();
    expect((await fresh.refresh([session('u', 'a')], 1000)).changes.map((c) => c.status)).toEqual(['online']);
  });

  it('a disconnect with grace keeps the user online until it runs out', async () => {
    const s = store();
    await s.connect(session('u', 'a'), 10_000, 16);
    expect(await s.disconnect('u', 'a', 500)).toBeUndefined();
    expect((await s.connect(session('u', 'b'), 10_000, 16)).changes).toEqual([]);
    now += 501;
    expect(await s.sweep(10)).toEqual([]);
    expect((await s.statuses(['u'])).get('u')).toBe('online');
  });

  it('follows the chosen status while live, keeps it for the next session', async () => {
    const s = store();
    expect(await s.setStatus('u', 'dnd')).toBeUndefined();
    expect((await s.connect(session('u', 'a'), 1000, 16)).changes.map((c) => c.status)).toEqual(['dnd']);
    expect((await s.setStatus('u', 'idle'))?.status).toBe('idle');
    expect(await s.setStatus('u', 'idle')).toBeUndefined();
    expect((await s.setStatus('u', 'online'))?.status).toBe('online');
  });

  it('over the cap, a session in its reconnect grace goes before any live one', async () => {
    const s = store();
    await s.connect(session('u', 'a', now), 10_000, 2);
    await s.connect(session('u', 'b', now + 1), 10_000, 2);
    await s.disconnect('u', 'b', 5000);
    expect((await s.connect(session('u', 'c', now + 2), 10_000, 2)).evicted).toEqual(['b']);
  });

  it('versions grow with every change', async () => {
    const s = store();
    const a = (await s.connect(session('u', 'a'), 1000, 16)).changes[0]!;
    const b = (await s.disconnect('u', 'a', 0))!;
    expect(b.version).toBeGreaterThan(a.version);
  });

  it('over the cap the oldest sessions are evicted and their refresh does not bring them back', async () => {
    const s = store();
    await s.connect(session('u', 'a', now), 1000, 2);
    await s.connect(session('u', 'b', now + 1), 1000, 2);
    const third = await s.connect(session('u', 'c', now + 2), 1000, 2);
    expect(third.evicted).toEqual(['a']);
    const refreshed = await s.refresh([session('u', 'a'), session('u', 'b')], 1000);
    expect(refreshed.evicted).toEqual(['a']);
    expect((await s.connect(session('u', 'd', now + 3), 1000, 2)).evicted).toEqual(['b']);
  });
});
