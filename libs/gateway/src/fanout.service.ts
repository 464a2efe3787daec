import {
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
  Optional,
} from '@nestjs/common';
import { AttachmentUrls } from '@cariosan/attachments';
import { BUS, type BusPort, channelTopic, describeError, MetricsService, userTopic } from '@cariosan/core';
import { type GatewayEvent, isJoinOf, parseBusEvent } from './gateway-event';
import { MembershipService } from './membership.service';
import type { ChannelState, Session } from './session';

/** Recent events kept per channel stream, so a session joining late catches up without a query. */
const RING = 128;
/** How long a gap may wait for the missing events to arrive on the bus before they are read from the outbox. */
const GAP_GRACE_MS = 15;
/** Channel positions are compared with Postgres this often (a lost last event shows up here). */
const POLL_MS = 1000;
const NONE: ReadonlySet<Session> = new Set();
/** Longest a session start waits for a subscription (Redis may be away: it is retried meanwhile). */
const SUBSCRIBE_WAIT_MS = 2000;
/** Typing waiting for its channel to catch up is dropped after this long. */
const TYPING_TTL_MS = 5000;

/**
 * One channel as this replica follows it: its events in seq order, gapless. Events arrive from the
 * bus in any order (and some never do); they wait in `pending` until every earlier one was
 * delivered, and a gap is read from the outbox.
 */
interface Stream {
  channelId: string;
  /** The last seq delivered to the stream's sessions. */
  pos: number;
  pending: Map<number, GatewayEvent>;
  typing: GatewayEvent[];
  sessions: Set<Session>;
  ring: GatewayEvent[];
  /** Settles once the bus subscription is active and what was committed before it is read. */
  ready: Promise<void>;
  subscribed: boolean;
  subscribing: boolean;
  fillTimer: NodeJS.Timeout | undefined;
  filling: boolean;
  /** Postgres' last seq at the previous poll when the stream was behind it. */
  lagTarget: number;
}

interface UserTopic {
  ready: Promise<void>;
  subscribed: boolean;
  subscribing: boolean;
}

/**
 * Per replica: per channel followed, an ordered, gapless stream of its events, delivered to the
 * local sessions that are members at each event. Membership comes from the stream itself: a
 * user's `member.joined` adds their sessions before that event, their `member.left` removes them
 * right after it, so a session gets exactly the events committed while its user was a member.
 * Each event is one object per replica whose `data` is the text the bus carried.
 */
@Injectable()
export class Fanout implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Fanout');
  private readonly sessions = new Map<string, Session>();
  private readonly byUser = new Map<string, Set<Session>>();
  private readonly streams = new Map<string, Stream>();
  private readonly userTopics = new Map<string, UserTopic>();
  private readonly listener = (message: string, topic: string) => this.onMessage(message, topic);
  private readonly latency;
  private timer: NodeJS.Timeout | undefined;
  private polling = false;

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

  onApplicationBootstrap(): void {
    this.bus.onReconnect((since) => this.recover(since));
    this.timer = setInterval(() => void this.poll(), POLL_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
    for (const st of this.streams.values()) if (st.fillTimer) clearTimeout(st.fillTimer);
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

  /**
   * Registers a session that is being prepared and follows its user's topic (joins are announced
   * there); resolves once that subscription is active, or failed (it is retried, and a membership
   * check follows when it holds). Joins seen from now on are kept until `start`.
   */
  async register(session: Session): Promise<void> {
    this.sessions.set(session.id, session);
    let users = this.byUser.get(session.userId);
    if (!users) this.byUser.set(session.userId, (users = new Set()));
    users.add(session);
    let topic = this.userTopics.get(session.userId);
    if (!topic) {
      const created: UserTopic = { subscribed: false, subscribing: false, ready: Promise.resolve() };
      created.ready = this.subscribeUser(session.userId, created);
      this.userTopics.set(session.userId, created);
      topic = created;
    }
    await within(topic.ready, SUBSCRIBE_WAIT_MS);
  }

  /**
   * Starts the session's channels at these positions (the last seq it has of each), plus the joins
   * seen while it was prepared. Resolves once every channel caught up with what was committed.
   */
  async start(session: Session, positions: Map<string, number>): Promise<void> {
    const early = session.earlyJoins ?? new Map<string, number>();
    session.earlyJoins = undefined;
    const waits: Promise<void>[] = [];
    for (const [c, pos] of positions) waits.push(this.attach(session, c, pos));
    for (const [c, pos] of early) if (!positions.has(c)) waits.push(this.attach(session, c, pos));
    await Promise.all(waits);
  }

  /** Stops everything for this session object (another object may already carry its id, resuming it). */
  remove(session: Session): void {
    if (session.gone) return;
    session.gone = true;
    if (this.sessions.get(session.id) === session) this.sessions.delete(session.id);
    for (const c of session.channels.keys()) {
      const st = this.streams.get(c);
      if (st) this.leaveStream(st, session);
    }
    session.channels.clear();
    const users = this.byUser.get(session.userId);
    users?.delete(session);
    if (users && users.size === 0) {
      this.byUser.delete(session.userId);
      this.userTopics.delete(session.userId);
      this.unsubscribe(userTopic(session.userId));
    }
  }

  /** The local sessions following a channel now (its members' sessions). */
  sessionsIn(channelId: string): ReadonlySet<Session> {
    return this.streams.get(channelId)?.sessions ?? NONE;
  }

  /** The local sessions of a user. */
  sessionsOf(userId: string): ReadonlySet<Session> {
    return this.byUser.get(userId) ?? NONE;
  }

  /** Users with sessions here (token checks, membership checks). */
  users(): string[] {
    return [...this.byUser.keys()];
  }

  // ---- bus ----

  /** Bus callback: must never throw. */
  private onMessage(message: string, topic: string): void {
    try {
      const e = parseBusEvent(message);
      if (!e) {
        this.logger.warn(`dropping a malformed event on ${topic}`);
        return;
      }
      // Attachment keys become download URLs once per event per replica. Signing is asynchronous;
      // the channel's stream keeps seq order (a later event waits for this one, or the gap is read
      // from the outbox, signed there too, and this copy is then dropped as already delivered).
      if (this.urls && AttachmentUrls.mayHold(e.data)) {
        const urls = this.urls;
        void urls.withUrls(e.data).then(
          (data) => {
            e.data = data;
            this.route(e, topic);
          },
          (err: unknown) => this.logger.warn(`signing attachment URLs failed: ${describeError(err).message}`),
        );
        return;
      }
      this.route(e, topic);
    } catch (err) {
      this.logger.error(`fanout on ${topic} failed: ${String(err)}`);
    }
  }

  private route(e: GatewayEvent, topic: string): void {
    if (topic.startsWith('user:')) this.onUserEvent(e, topic.slice(5));
    else this.onChannelEvent(e);
  }

  /** An event addressed to a user: a join starts their sessions on that channel; then as any channel event. */
  private onUserEvent(e: GatewayEvent, userId: string): void {
    if (e.seq === 0) return;
    if (isJoinOf(e, userId, true))
      for (const s of this.byUser.get(userId) ?? []) this.join(s, e.channelId, e.seq - 1);
    this.onChannelEvent(e);
  }

  private onChannelEvent(e: GatewayEvent): void {
    const st = this.streams.get(e.channelId);
    if (!st) return;
    if (e.seq === 0) {
      if (e.after <= st.pos) this.deliverTyping(st, e);
      else if (st.typing.length < 64) st.typing.push(e);
      return;
    }
    if (e.seq <= st.pos || st.pending.has(e.seq)) return;
    st.pending.set(e.seq, e);
    this.advance(st);
  }

  /** Delivers what is contiguous; a gap waits briefly for the bus, then is read from the outbox. */
  private advance(st: Stream): void {
    let e: GatewayEvent | undefined;
    while ((e = st.pending.get(st.pos + 1)) !== undefined) {
      st.pending.delete(e.seq);
      this.deliver(st, e);
      st.pos = e.seq;
      st.ring.push(e);
      if (st.ring.length > RING) st.ring.shift();
      const created = Date.parse(e.createdAt);
      if (Number.isFinite(created)) this.latency.observe(Math.max(0, Date.now() - created) / 1000);
    }
    if (st.typing.length > 0) {
      const now = Date.now();
      const waiting: GatewayEvent[] = [];
      for (const t of st.typing) {
        if (t.after <= st.pos) this.deliverTyping(st, t);
        else if (now - Date.parse(t.createdAt) < TYPING_TTL_MS) waiting.push(t);
      }
      st.typing = waiting;
    }
    if (st.pending.size === 0) {
      if (st.fillTimer) clearTimeout(st.fillTimer);
      st.fillTimer = undefined;
    } else if (!st.fillTimer && !st.filling) {
      st.fillTimer = setTimeout(() => void this.fill(st), GAP_GRACE_MS);
    }
  }

  private async fill(st: Stream, retryMs = 1000): Promise<void> {
    st.fillTimer = undefined;
    if (st.pending.size === 0 || this.streams.get(st.channelId) !== st) return;
    st.filling = true;
    try {
      const upTo = Math.min(...st.pending.keys()) - 1;
      if (upTo > st.pos)
        for (const e of await this.membership.range(st.channelId, st.pos, upTo)) this.onChannelEvent(e);
      if (st.pending.size > 0 && Math.min(...st.pending.keys()) > st.pos + 1) {
        // Not in the outbox (dropped with its partition): nothing will ever fill it.
        this.logger.warn(`channel ${st.channelId}: events ${st.pos + 1}..${upTo} are gone, skipping them`);
        st.pos = upTo;
      }
    } catch (err) {
      this.logger.warn(
        `channel ${st.channelId}: reading a gap failed, retrying: ${describeError(err).message}`,
      );
      st.filling = false;
      st.fillTimer = setTimeout(() => void this.fill(st, Math.min(retryMs * 2, 10_000)), retryMs);
      return;
    }
    st.filling = false;
    this.advance(st);
  }

  private deliver(st: Stream, e: GatewayEvent): void {
    if (e.type === 'member.joined' && e.subject) {
      for (const s of this.byUser.get(e.subject) ?? []) {
        if (s.channels.has(st.channelId)) continue;
        // st.pos is e.seq - 1 here: the session starts with this event.
        if (s.earlyJoins || !this.mayJoin(s, st.channelId, e.seq - 1)) this.join(s, st.channelId, e.seq - 1);
        else this.addToStream(st, s, e.seq - 1);
      }
    }
    for (const s of st.sessions) this.deliverTo(s, st, e);
  }

  private deliverTo(session: Session, st: Stream, e: GatewayEvent): void {
    const cs = session.channels.get(st.channelId);
    if (!cs) return;
    if (cs.held) {
      cs.held.push(e);
      return;
    }
    if (e.seq <= cs.pos) return;
    if (e.seq > cs.pos + 1) {
      cs.held = [e];
      void this.catchUp(session, st, cs, e.seq - 1);
      return;
    }
    cs.pos = e.seq;
    const ownLeave = e.type === 'member.left' && e.subject === session.userId;
    session.sendEvent(e, ownLeave);
    if (ownLeave) {
      // The leave is the last event of this channel the session gets.
      session.channels.delete(st.channelId);
      session.leftAt.set(st.channelId, e.seq);
      session.unfollow(st.channelId);
      this.leaveStream(st, session);
    }
  }

  private deliverTyping(st: Stream, e: GatewayEvent): void {
    const typist = (() => {
      try {
        return (JSON.parse(e.data) as { userId?: string }).userId ?? '';
      } catch {
        return '';
      }
    })();
    for (const s of st.sessions) {
      const cs = s.channels.get(st.channelId);
      // Only to a connected socket (typing is not kept for resume), not while catching up, and
      // not typing from before the membership began.
      if (!s.socket || !cs || cs.held || e.after < cs.since || cs.pos < e.after) continue;
      s.sendTyping(e, typist);
    }
  }

  // ---- membership ----

  /** The user became a member at seq pos + 1 (a join seen on their topic, on a stream, or found later). */
  private join(session: Session, channelId: string, pos: number): void {
    if (session.gone || session.channels.has(channelId)) return;
    if (!this.mayJoin(session, channelId, pos)) return;
    if (session.earlyJoins) {
      const cur = session.earlyJoins.get(channelId);
      if (cur === undefined || pos < cur) session.earlyJoins.set(channelId, pos);
      return;
    }
    void this.attach(session, channelId, pos);
  }

  /** A join from before the session's last leave of that channel is old news. */
  private mayJoin(session: Session, channelId: string, pos: number): boolean {
    const left = session.leftAt.get(channelId);
    return left === undefined || pos >= left;
  }

  /** Follows a channel from `pos`; resolves once the session caught up with what the replica had and Postgres had. */
  private attach(session: Session, channelId: string, pos: number): Promise<void> {
    if (session.gone || session.channels.has(channelId)) return Promise.resolve();
    let st = this.streams.get(channelId);
    if (!st) st = this.openStream(channelId, pos);
    const cs = this.addToStream(st, session, pos);
    const caughtUp = pos < st.pos ? this.catchUp(session, st, cs, st.pos) : Promise.resolve();
    return Promise.all([caughtUp, within(st.ready, SUBSCRIBE_WAIT_MS)]).then(() => undefined);
  }

  private addToStream(st: Stream, session: Session, pos: number): ChannelState {
    const cs: ChannelState = { pos, since: pos, held: null };
    session.channels.set(st.channelId, cs);
    session.follow(st.channelId, pos);
    st.sessions.add(session);
    return cs;
  }

  private leaveStream(st: Stream, session: Session): void {
    st.sessions.delete(session);
    if (st.sessions.size > 0 || this.streams.get(st.channelId) !== st) return;
    this.streams.delete(st.channelId);
    if (st.fillTimer) clearTimeout(st.fillTimer);
    this.unsubscribe(channelTopic(st.channelId));
  }

  /** Brings one session from cs.pos up to `upTo` (recent events, else the outbox), then releases what waited. */
  private async catchUp(session: Session, st: Stream, cs: ChannelState, upTo: number): Promise<void> {
    cs.held ??= [];
    for (let attempt = 0; ; attempt++) {
      if (session.gone || session.channels.get(st.channelId) !== cs) return;
      try {
        const first = st.ring[0];
        const events =
          first && first.seq <= cs.pos + 1
            ? st.ring.filter((e) => e.seq > cs.pos && e.seq <= upTo)
            : await this.membership.range(st.channelId, cs.pos, upTo);
        if (session.gone || session.channels.get(st.channelId) !== cs) return;
        const held = cs.held ?? [];
        cs.held = null;
        for (const e of events) this.deliverTo(session, st, e);
        if (session.channels.get(st.channelId) === cs && cs.pos < upTo && !cs.held) {
          this.logger.warn(`channel ${st.channelId}: events up to ${upTo} are gone, skipping them`);
          cs.pos = upTo;
        }
        for (const e of held) this.deliverTo(session, st, e);
        return;
      } catch (err) {
        if (attempt === 0)
          this.logger.warn(
            `session catch-up on ${st.channelId} failed, retrying: ${describeError(err).message}`,
          );
        await new Promise((r) => setTimeout(r, Math.min(1000 * 2 ** attempt, 10_000)));
      }
    }
  }

  // ---- subscriptions, gap checks ----

  private openStream(channelId: string, pos: number): Stream {
    const st: Stream = {
      channelId,
      pos,
      pending: new Map(),
      typing: [],
      sessions: new Set(),
      ring: [],
      ready: Promise.resolve(),
      subscribed: false,
      subscribing: false,
      fillTimer: undefined,
      filling: false,
      lagTarget: 0,
    };
    this.streams.set(channelId, st);
    st.ready = this.subscribeStream(st);
    return st;
  }

  /** Subscribes, then reads what was committed before the subscription held. Never rejects. */
  private async subscribeStream(st: Stream): Promise<void> {
    st.subscribing = true;
    try {
      await this.bus.subscribe(channelTopic(st.channelId), this.listener);
      st.subscribed = true;
    } catch (err) {
      // Retried by the poll; the stream is checked against Postgres meanwhile.
      this.logger.warn(`subscribing channel ${st.channelId} failed: ${describeError(err).message}`);
    } finally {
      st.subscribing = false;
    }
    await this.sync([st]);
  }

  private async subscribeUser(userId: string, topic: UserTopic): Promise<void> {
    topic.subscribing = true;
    try {
      await this.bus.subscribe(userTopic(userId), this.listener);
      topic.subscribed = true;
    } catch (err) {
      this.logger.warn(`subscribing user ${userId} failed: ${describeError(err).message}`);
    } finally {
      topic.subscribing = false;
    }
  }

  private unsubscribe(topic: string): void {
    this.bus
      .unsubscribe(topic, this.listener)
      .catch((err: unknown) => this.logger.warn(`unsubscribe ${topic}: ${describeError(err).message}`));
  }

  /** Reads, for each stream, what Postgres has after its position. Never rejects. */
  private async sync(streams: Stream[]): Promise<void> {
    let todo = streams.filter((st) => this.streams.get(st.channelId) === st);
    try {
      while (todo.length > 0) {
        const events = await this.membership.eventsAfter(todo.map((st) => [st.channelId, st.pos]));
        const counts = new Map<string, number>();
        for (const e of events) {
          counts.set(e.channelId, (counts.get(e.channelId) ?? 0) + 1);
          this.onChannelEvent(e);
        }
        todo = todo.filter(
          (st) => (counts.get(st.channelId) ?? 0) >= 1000 && this.streams.get(st.channelId) === st,
        );
      }
    } catch (err) {
      this.logger.warn(`reading missed events failed (the poll retries): ${describeError(err).message}`);
    }
  }

  /**
   * Once a second: retries failed subscriptions, and compares each stream with its channel's last
   * seq; a stream still behind what Postgres had a poll ago missed something on the bus.
   */
  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      for (const [userId, topic] of this.userTopics) {
        if (topic.subscribed || topic.subscribing) continue;
        void this.subscribeUser(userId, topic).then(() => {
          if (topic.subscribed) void this.checkMemberships(Date.now() - 60_000, [userId]);
        });
      }
      for (const st of this.streams.values())
        if (!st.subscribed && !st.subscribing) st.ready = this.subscribeStream(st);
      const last = await this.membership.lastSeqs([...this.streams.keys()]);
      const behind: Stream[] = [];
      for (const [c, seq] of last) {
        const st = this.streams.get(c);
        if (!st) continue;
        if (st.lagTarget > 0 && st.pos < st.lagTarget && !st.filling) behind.push(st);
        st.lagTarget = seq > st.pos ? seq : 0;
      }
      if (behind.length > 0) await this.sync(behind);
    } catch (err) {
      this.logger.warn(`checking channel positions failed: ${describeError(err).message}`);
    } finally {
      this.polling = false;
    }
  }

  /** The bus was away: every stream reads what it missed, and every user's joins are checked. */
  private recover(downSince: number): void {
    const run = () => {
      void this.sync([...this.streams.values()]);
      void this.checkMemberships(downSince - 5000, this.users());
    };
    run();
    // ioredis re-subscribes right after 'ready': look once more after that settled.
    setTimeout(run, 500).unref();
  }

  /**
   * Finds memberships the sessions do not follow (their join was announced while the bus was
   * away) and starts them at the join's seq.
   */
  async checkMemberships(sinceMs: number, userIds: string[]): Promise<void> {
    try {
      const rows = await this.membership.memberships(userIds);
      const missing: [string, string][] = [];
      const lastSeq = new Map<string, number>();
      for (const r of rows) {
        lastSeq.set(r.channelId, r.lastSeq);
        const sessions = [...(this.byUser.get(r.userId) ?? [])].filter((s) => !s.earlyJoins);
        if (sessions.some((s) => !s.channels.has(r.channelId))) missing.push([r.userId, r.channelId]);
      }
      if (missing.length === 0) return;
      const joins = await this.membership.joinSeqs(missing, sinceMs);
      for (const [userId, c] of missing) {
        const seq = joins.get(`${userId}:${c}`);
        const pos = seq !== undefined ? seq - 1 : lastSeq.get(c)!;
        for (const s of this.byUser.get(userId) ?? []) if (!s.earlyJoins) this.join(s, c, pos);
      }
    } catch (err) {
      this.logger.warn(`checking memberships failed: ${describeError(err).message}`);
    }
  }
}

/** Resolves when `p` settles or after `ms`, whichever comes first. */
function within(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.then(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
