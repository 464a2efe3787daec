import { CloseCode, dispatchFrame, parseClientFrame } from './protocol';
import { InProcessSessionStore } from './session-store/in-process-session-store';
import { contiguousAfter } from './session-store/session-store.port';

describe('parseClientFrame', () => {
  it.each([
    ['not json', '{"op":'],
    ['not an object', '[1,2]'],
    ['no op', '{"d":{}}'],
    ['unknown op', '{"op":"DISPATCH","d":{}}'],
    ['IDENTIFY without token', '{"op":"IDENTIFY","d":{}}'],
    ['RESUME with a negative seq', '{"op":"RESUME","d":{"token":"t","sessionId":"s","seq":-1}}'],
    ['RESUME with a fractional seq', '{"op":"RESUME","d":{"token":"t","sessionId":"s","seq":1.5}}'],
  ])('rejects %s with 4002', (_, text) => {
    expect(parseClientFrame(text)).toMatchObject({ ok: false, code: CloseCode.DecodeError });
  });

  it('accepts the three client ops', () => {
    expect(parseClientFrame('{"op":"IDENTIFY","d":{"token":"t"}}')).toEqual({
      ok: true,
      frame: { op: 'IDENTIFY', token: 't' },
    });
    expect(parseClientFrame('{"op":"RESUME","d":{"token":"t","sessionId":"s","seq":4}}')).toEqual({
      ok: true,
      frame: { op: 'RESUME', token: 't', sessionId: 's', seq: 4 },
    });
    expect(parseClientFrame('{"op":"HEARTBEAT","d":{"seq":7}}')).toEqual({
      ok: true,
      frame: { op: 'HEARTBEAT', seq: 7 },
    });
    expect(parseClientFrame('{"op":"HEARTBEAT"}')).toEqual({
      ok: true,
      frame: { op: 'HEARTBEAT', seq: null },
    });
  });

  it('builds dispatch frames around a serialised payload', () => {
    expect(JSON.parse(dispatchFrame('MESSAGE_CREATE', 3, '{"id":"1"}'))).toEqual({
      op: 'DISPATCH',
      t: 'MESSAGE_CREATE',
      s: 3,
      d: { id: '1' },
    });
  });
});

describe('session store', () => {
  const f = (seq: number, eventId = `e${seq}`) => ({
    seq,
    eventId,
    type: 'MESSAGE_CREATE',
    dataJson: '{}',
    frame: `f${seq}`,
  });

  it('replays only complete, contiguous tails', () => {
    const frames = [f(3), f(4), f(5)];
    expect(contiguousAfter(frames, 3, 5)?.frames.map((x) => x.seq)).toEqual([4, 5]);
    expect(contiguousAfter(frames, 5, 5)).toEqual({ frames: [], eventIds: ['e3', 'e4', 'e5'] });
    expect(contiguousAfter(frames, 1, 5)).toBeUndefined(); // 2 was trimmed
    expect(contiguousAfter(frames, 6, 5)).toBeUndefined(); // ahead of the session
    expect(contiguousAfter([f(3), f(5)], 2, 5)).toBeUndefined(); // a hole
  });

  it('refuses writes from a replaced owner and checks the user on claim', async () => {
    const store = new InProcessSessionStore(60_000);
    await store.create('s', 'u1', 'h', 'owner-a');
    expect(await store.append('s', 'owner-a', f(1))).toBe(true);
    expect(await store.claim('s', 'u2', 'h', 'owner-b')).toBeUndefined();
    expect(await store.claim('s', 'u1', 'h2', 'owner-b')).toMatchObject({ lastSeq: 1 });
    expect(await store.append('s', 'owner-a', f(2))).toBe(false);
    expect(await store.append('s', 'owner-b', f(2))).toBe(true);
    expect((await store.framesAfter('s', 0))?.frames.map((x) => x.seq)).toEqual([1, 2]);
    await store.destroy('s');
    expect(await store.framesAfter('s', 0)).toBeUndefined();
  });
});
