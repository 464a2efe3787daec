import { Logger } from '@nestjs/common';
import { InProcessBus, MetricsService } from '@cariosan/core';
import { Fanout } from './fanout.service';
import type { MembershipService, MissedEvent } from './membership.service';
import { Session } from './session';
import type { SessionStorePort } from './session-store/session-store.port';

/** An in-process bus whose SUBSCRIBE confirms only when the test says so. */
class SlowSubscribeBus extends InProcessBus {
  private pending: (() => void)[] = [];

  override subscribe(topic: string, listener: (m: string, t: string) => void): Promise<void> {
    if (topic.startsWith('user:')) return super.subscribe(topic, listener);
    return new Promise((resolve) =>
      this.pending.push(() => void super.subscribe(topic, listener).then(resolve)),
    );
  }

  confirmSubscriptions(): void {
    for (const confirm of this.pending.splice(0)) confirm();
  }
}

const event = (id: string, type: string, channelId: string, seq: number, data: object) =>
  JSON.stringify({ id, type, channelId, seq, data, createdAt: new Date().toISOString() });

const flush = () => new Promise((r) => setImmediate(r));

describe('Fanout.joinChannel', () => {
  it('delivers, in order, what the channel published between the join and the confirmed subscription', async () => {
    const bus = new SlowSubscribeBus();
    const outbox: MissedEvent[] = [];
    const asked: [string, number][] = [];
    const membership = {
      channelEventsAfter: async (channelId: string, afterSeq: number) => {
        asked.push([channelId, afterSeq]);
        return outbox;
      },
    } as unknown as MembershipService;
    const fanout = new Fanout(bus, membership, new MetricsService());
    const store = { append: async () => true } as unknown as SessionStorePort;
    const session = new Session('s1', 'u1', 'hash', 'owner', store, () => undefined, new Logger('test'));
    const frames: { t: string; s: number; d: { id?: string } }[] = [];
    session.attach({ send: (f) => frames.push(JSON.parse(f)) });
    await fanout.register(session, []);
    session.finishBuffering();

    await bus.publish('user:u1', event('10', 'member.joined', 'c1', 4, { channelId: 'c1', userId: 'u1' }));
    // Published before the replica's SUBSCRIBE took effect: not received live.
    const early = event('11', 'message.created', 'c1', 5, { id: 'm1' });
    await bus.publish('channel:c1', early);
    outbox.push({ eventId: '11', type: 'MESSAGE_CREATE', dataJson: JSON.stringify({ id: 'm1' }) });
    bus.confirmSubscriptions();
    await flush();
    // Arrives live once subscribed; also a duplicate of the filled one, which must be dropped.
    await bus.publish('channel:c1', event('12', 'message.created', 'c1', 6, { id: 'm2' }));
    await bus.publish('channel:c1', early);
    for (let i = 0; i < 5; i++) await flush();

    // The fill asks for the channel's events after the join's seq.
    expect(asked).toEqual([['c1', 4]]);
    expect(frames.map((f) => [f.t, f.s, f.d.id])).toEqual([
      ['CHANNEL_MEMBER_ADD', 1, undefined],
      ['MESSAGE_CREATE', 2, 'm1'],
      ['MESSAGE_CREATE', 3, 'm2'],
    ]);
  });
});
