import { parseBusEvent } from './gateway-event';

describe('parseBusEvent', () => {
  const data = '{"id":"5","channelId":"10","content":"a \\"data\\": b","mentions":[]}';

  it('slices data out as the text it was, header parsed alone', () => {
    const e = parseBusEvent(
      `{"id":"7","type":"message.created","channelId":"10","seq":3,"createdAt":"2026-01-01T00:00:00.000Z","data":${data}}`,
    );
    expect(e).toMatchObject({ id: '7', t: 'MESSAGE_CREATE', channelId: '10', seq: 3, data });
  });

  it('reads an event whose data is not last (an older writer) by parsing it whole', () => {
    const e = parseBusEvent(
      `{"id":"7","type":"member.left","channelId":"10","seq":4,"data":{"channelId":"10","userId":"9"},"createdAt":"x"}`,
    );
    expect(e).toMatchObject({ seq: 4, data: '{"channelId":"10","userId":"9"}', subject: '9' });
  });

  it('takes typing with the seq it follows, and refuses what it cannot dispatch', () => {
    expect(
      parseBusEvent(
        '{"id":"8","type":"typing.started","channelId":"10","after":6,"createdAt":"x","data":{}}',
      ),
    ).toMatchObject({ seq: 0, after: 6, t: 'TYPING_START' });
    expect(
      parseBusEvent('{"id":"8","type":"nope","channelId":"10","seq":1,"createdAt":"x","data":{}}'),
    ).toBeUndefined();
    expect(
      parseBusEvent('{"id":"8","type":"message.created","channelId":"10","createdAt":"x","data":{}}'),
    ).toBeUndefined();
    expect(parseBusEvent('not json')).toBeUndefined();
  });
});
