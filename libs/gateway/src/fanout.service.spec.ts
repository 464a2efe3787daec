import { InProcessBus, MetricsService } from '@cariosan/core';
import { Fanout } from './fanout.service';
import { type GatewayEvent, makeEvent } from './gateway-event';
import type { MembershipService } from './membership.service';
import { Session } from './session';

/** A channel's committed events, as the outbox would answer for them. */
class FakeOutbox {
  readonly events: GatewayEvent[] = [];
  reads = 0;

  add(type: GatewayEvent['type'], channelId: string, data: object): GatewayEvent {
    const seq = this.events.filter((e) => e.channelId === channelId).length + 1;
    const e = makeEvent(
      `${channelId}${seq}`,
      type,
      channelId,
      seq,
      0,
      new Date().toISOString(),
      JSON.stringify(data),
    );
    this.events.push(e);
    return e;
  }

  asMembership(): MembershipService {
    const after = (c: string, from: number, upTo = Infinity) =>
      this.events.filter((e) => e.channelId === c && e.seq > from && e.seq <= upTo);
    return {
      eventsAfter: async (from: [string, number][]) => {
        this.reads++;
        return from.flatMap(([c, p]) => after(c, p));
      },
      range: async (c: string, from: number, upTo: number) => {
        this.reads++;
        return after(c, from, upTo);
      },
      lastSeqs: async () => new Map(),
    } as unknown as MembershipService;
  }
}

const wire = (e: GatewayEvent) =>
  `{"id":"${e.id}","type":"${e.type}","channelId":"${e.channelId}","seq":${e.seq},"createdAt":"${e.createdAt}","data":${e.data}}`;
const flush = () => new Promise((r) => setTimeout(r, 30));

function setup() {
  const bus = new InProcessBus();
  const outbox = new FakeOutbox();
  const fanout = new Fanout(bus, outbox.asMembership(), new MetricsService());
  const socketOf = (session: Session) => {
    const frames: { t: string; s: number; d: { id?: string; content?: string } }[] = [];
    session.attach({ send: (f) => frames.push(JSON.parse(f) as (typeof frames)[number]) });
    return frames;
  };
  const start = async (userId: string, positions: [string, number][]) => {
    const session = new Session(`s-${userId}-${Math.random()}`, userId, 'h', 'o');
    const frames = socketOf(session);
    await fanout.register(session);
    await fanout.start(session, new Map(positions));
    return { session, frames };
  };
  return { bus, outbox, fanout, start };
}

describe('Fanout', () => {
  it('delivers a channel in seq order whatever order the bus brings, reading a lost event from the outbox', async () => {
    const { bus, outbox, start } = setup();
    const { frames } = await start('u1', [['10', 0]]);
    const [a, , c, d] = ['a', 'b', 'c', 'd'].map((content) =>
      outbox.add('message.created', '10', { content }),
    );
    await bus.publish('channel:10', wire(c!));
    await bus.publish('channel:10', wire(a!));
    // b is never published: after a moment it is read from the outbox.
    await bus.publish('channel:10', wire(d!));
    await bus.publish('channel:10', wire(a!));
    await flush();
    expect(frames.map((f) => [f.s, f.d.content])).toEqual([
      [1, 'a'],
      [2, 'b'],
      [3, 'c'],
      [4, 'd'],
    ]);
  });

  it("gives a user's sessions exactly the events between their join and their leave", async () => {
    const { bus, outbox, start } = setup();
    const watcher = await start('u1', [['10', 0]]);
    const x = await start('x', []);
    const events = [
      outbox.add('message.created', '10', { content: 'before' }),
      outbox.add('member.joined', '10', { channelId: '10', userId: 'x' }),
      outbox.add('message.created', '10', { content: 'inside' }),
      outbox.add('member.left', '10', { channelId: '10', userId: 'x' }),
      outbox.add('message.created', '10', { content: 'secret' }),
    ];
    // The join reaches x's topic after the channel's later events were already delivered here.
    for (const e of events) await bus.publish('channel:10', wire(e));
    await bus.publish('user:x', wire(events[1]!));
    await flush();
    expect(watcher.frames).toHaveLength(5);
    expect(x.frames.map((f) => f.t)).toEqual([
      'CHANNEL_MEMBER_ADD',
      'MESSAGE_CREATE',
      'CHANNEL_MEMBER_REMOVE',
    ]);
    expect(x.session.channels.has('10')).toBe(false);
  });
});
