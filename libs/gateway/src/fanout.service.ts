import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { AttachmentUrls } from '@cariosan/attachments';
import {
  BUS,
  type BusPort,
  channelTopic,
  type DomainEvent,
  GATEWAY_DISPATCH,
  MetricsService,
  userTopic,
} from '@cariosan/core';
import { MembershipService } from './membership.service';
import type { Session } from './session';

interface TopicEntry {
  sessions: Set<Session>;
  /** Settles when the bus subscription is active. */
  ready: Promise<void>;
}

/**
 * Per replica: which local sessions follow which topic. A topic is subscribed on the bus
 * only while a local session follows it; each event is parsed and serialised once, then
 * handed to every session, which numbers it and drops a copy it already had.
 */
@Injectable()
export class Fanout {
  private readonly logger = new Logger('Fanout');
  private readonly sessions = new Map<string, Session>();
  private readonly topics = new Map<string, TopicEntry>();
  private readonly listener = (message: string, topic: string) => this.onMessage(message, topic);
  private readonly latency;

  constructor(
    @Inject(BUS) private readonly bus: BusPort,
    private readonly membership: MembershipService,
    metrics: MetricsService,
    @Optional() private readonly urls?: AttachmentUrls,
  ) {
    this.latency = metrics.histogram(
      'cariosan_fanout_latency_seconds',
      'Time from an event being created to its dispatch on this replica',
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    );
  }

  get(sessionId: string): Session | undefined {
    return this.sessions.get(sessionId);
  }

  all(): Session[] {
    return [...this.sessions.values()];
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Follows the user's topic and these channels; resolves once every subscription is active. */
  async register(session: Session, channelIds: string[]): Promise<void> {
    this.sessions.set(session.id, session);
    const joins = [this.follow(session, userTopic(session.userId))];
    for (const id of channelIds) {
      session.channels.add(id);
      joins.push(this.follow(session, channelTopic(id)));
    }
    try {
      await Promise.all(joins);
    } catch (err) {
      this.remove(session);
      throw err;
    }
  }

  remove(session: Session): void {
    if (this.sessions.get(session.id) !== session) return;
    this.sessions.delete(session.id);
    this.unfollow(session, userTopic(session.userId));
    for (const id of session.channels) this.unfollow(session, channelTopic(id));
    session.channels.clear();
  }

  /**
   * Follows a channel the user just joined. Events of that channel published before the bus
   * subscription was active would be lost, so the session holds its live events back, then
   * takes what the outbox has after the join event (by the channel's seq), and releases both
   * in order (deduped by id).
   */
  joinChannel(session: Session, channelId: string, joinSeq: number): void {
    if (session.channels.has(channelId) || this.sessions.get(session.id) !== session) return;
    session.channels.add(channelId);
    session.startBuffering();
    this.follow(session, channelTopic(channelId))
      .then(() => this.membership.channelEventsAfter(channelId, joinSeq))
      .then((missed) => session.prependBuffered(missed))
      .catch((err: unknown) => {
        this.logger.warn(`session ${session.id} could not follow channel ${channelId}: ${String(err)}`);
      })
      .finally(() => session.finishBuffering());
  }

  leaveChannel(session: Session, channelId: string): void {
    if (!session.channels.delete(channelId)) return;
    this.unfollow(session, channelTopic(channelId));
  }

  private follow(session: Session, topic: string): Promise<void> {
    let entry = this.topics.get(topic);
    if (!entry) {
      const created: TopicEntry = { sessions: new Set(), ready: this.bus.subscribe(topic, this.listener) };
      created.ready.catch(() => {
        // Forget the failed subscription so the next follower tries again.
        if (this.topics.get(topic) === created) this.topics.delete(topic);
      });
      this.topics.set(topic, created);
      entry = created;
    }
    entry.sessions.add(session);
    return entry.ready;
  }

  private unfollow(session: Session, topic: string): void {
    const entry = this.topics.get(topic);
    if (!entry) return;
    entry.sessions.delete(session);
    if (entry.sessions.size > 0) return;
    this.topics.delete(topic);
    this.bus
      .unsubscribe(topic, this.listener)
      .catch((err: unknown) => this.logger.warn(`unsubscribe ${topic}: ${String(err)}`));
  }

  /** Bus callback: must never throw. */
  private onMessage(message: string, topic: string): void {
    const entry = this.topics.get(topic);
    if (!entry || entry.sessions.size === 0) return;
    let event: DomainEvent;
    try {
      event = JSON.parse(message) as DomainEvent;
    } catch {
      this.logger.warn(`dropping a malformed event on ${topic}`);
      return;
    }
    const type = event && typeof event === 'object' ? GATEWAY_DISPATCH[event.type] : undefined;
    if (!type) {
      this.logger.warn(`dropping an event of unknown type on ${topic}`);
      return;
    }
    try {
      // Attachment keys become download URLs here, once per event; the order of events is kept.
      if (this.urls) this.urls.inOrder(event.data, () => this.dispatch(event, type, topic, entry.sessions));
      else this.dispatch(event, type, topic, entry.sessions);
    } catch (err) {
      this.logger.error(`fanout of event ${String(event.id)} failed: ${String(err)}`);
    }
  }

  private dispatch(event: DomainEvent, type: string, topic: string, targets: Set<Session>): void {
    const dataJson = JSON.stringify(event.data ?? null);
    const eventId = typeof event.id === 'string' ? event.id.replace(/\s/g, '') : '';
    const subjectId = (event.data as { userId?: unknown } | null)?.userId;
    const onUserTopic = topic.startsWith('user:');
    // Every stored event carries its channel's seq; without one, back-fill from the start of what is kept.
    const joinSeq = typeof event.seq === 'number' && Number.isFinite(event.seq) ? event.seq : 0;
    for (const session of [...targets]) {
      if (!session.deliver(eventId, type, dataJson)) continue;
      // Membership changes take effect at once; the leaver still got the event above.
      if (event.type === 'member.joined' && subjectId === session.userId)
        this.joinChannel(session, event.channelId, joinSeq);
      else if (event.type === 'member.left' && subjectId === session.userId)
        this.leaveChannel(session, event.channelId);
      else if (event.type === 'channel.created' && onUserTopic)
        this.joinChannel(session, event.channelId, joinSeq);
    }
    const created = Date.parse(event.createdAt);
    if (Number.isFinite(created)) this.latency.observe(Math.max(0, Date.now() - created) / 1000);
  }
}
