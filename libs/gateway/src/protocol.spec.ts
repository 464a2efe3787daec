import { CloseCode, dispatchFrame, parseClientFrame } from './protocol';
import { InProcessResumeStore } from './resume-store/in-process-resume-store';
import { type Checkpoint, framesAfter, type LogEntry } from './resume-store/resume-store.port';

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

describe('resume store', () => {
  it('finds the frames after a seq only when the log has all of them', () => {
    const log: LogEntry[] = [
      { from: 1, items: [['Y'], ['10', 5, 3]] },
      { from: 5, items: [['T', '10', 'u'], ['L', '10', 8], ['R']] },
    ];
    expect(framesAfter(log, 2, 7)?.map((f) => [f.s, f.index])).toEqual([
      [3, 1],
      [4, 2],
      [5, 0],
      [6, 0],
      [7, 0],
    ]);
    expect(framesAfter(log, 7, 7)).toEqual([]);
    expect(framesAfter(log, 0, 8)).toBeUndefined(); // frame 8 is not in the log
    expect(framesAfter([log[1]!], 2, 7)).toBeUndefined(); // frames 3 and 4 were trimmed
    expect(framesAfter([log[0]!, { from: 6, items: [['R'], ['R']] }], 2, 7)).toBeUndefined(); // a hole
  });

  it('refuses flushes from a replaced owner and checks the user on claim', async () => {
    const store = new InProcessResumeStore(60_000);
    await store.create({
      sessionId: 's',
      userId: 'u1',
      tokenHash: 'h',
      owner: 'owner-a',
      s: 1,
      positions: new Map([['10', 4]]),
      entry: { from: 1, items: [['Y']] },
    });
    const cp = (owner: string, s: number): Checkpoint => ({
      sessionId: 's',
      owner,
      s,
      entry: { from: s, items: [['10', s + 3, 1]] },
      positions: new Map([['10', s + 3]]),
      dropped: [],
      touch: false,
      released: false,
    });
    expect(await store.flush([cp('owner-a', 2)])).toEqual(['ok']);
    expect(await store.claim('s', 'u2', 'h', 'owner-b')).toBeUndefined();
    expect(await store.claim('s', 'u1', 'h2', 'owner-b')).toMatchObject({
      s: 2,
      positions: new Map([['10', 5]]),
    });
    expect(await store.flush([cp('owner-a', 3)])).toEqual(['lost']);
    expect(await store.flush([cp('owner-b', 3)])).toEqual(['ok']);
    await store.destroy('s');
    expect(await store.flush([cp('owner-b', 4)])).toEqual(['missing']);
  });
});
