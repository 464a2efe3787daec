import { CloseCode, dispatchFrame, parseClientFrame } from './protocol';
import { framesAfter, type LogEntry } from './resume-store/resume-store.port';

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
});
