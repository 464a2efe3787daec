import { Injectable } from '@nestjs/common';
import {
  AppConfig,
  AppError,
  ChannelWriteQueue,
  type CommittedEvent,
  Db,
  eventJson,
  isOutage,
  OutboxService,
  UnavailableError,
} from '@cariosan/core';

/** One post as the SQL function `post_messages` takes it. */
export interface PostRequest {
  authorId: string;
  content: string;
  nonce: string | null;
  parentId: string | null;
  /** The readings of each @mention, most literal first: "ada.,ada bob" (see mentionGroups). */
  mentions: string | null;
  /** Attachment ids, comma-separated (checked in the object store before); null: none. */
  attachments: string | null;
}

export type PostOutcome =
  | { status: 'created'; messageId: string; body: string }
  | { status: 'replay' | 'mismatch'; messageId: string }
  | { status: 'forbidden' | 'not_found' | 'archived' | 'bad_parent' | 'bad_attachment' };

interface Row {
  status: PostOutcome['status'] | 'busy';
  message_id: string | null;
  event_id: string | null;
  event_seq: string | null;
  event_created_at: string | null;
  body: string | null;
}

interface Waiting {
  channelId: string;
  request: PostRequest;
  resolve: (outcome: PostOutcome) => void;
  reject: (err: unknown) => void;
}

/** Most posts written by one statement: bounds the time a statement holds its channels' locks. */
const MAX_BATCH = 100;
/** A channel found locked by another writer is written on its own, waiting, for this long. */
const CONTENDED_MS = 1000;

const POST_SQL = `SELECT status, message_id, event_id, event_seq::text AS event_seq, event_created_at, body
  FROM post_messages($1, $2, $3, $4, $5, $6, $7, $8)`;

function isLockTimeout(err: unknown): boolean {
  const e = err as { code?: unknown } | null;
  return e?.code === '55P03';
}

/**
 * Writes posts with as few statements as the load allows. Posts wait here while statements run;
 * each statement (`post_messages`) takes every post that waited, of whatever channels (a channel
 * is in at most one statement at a time, so its posts keep their order), locks those channels
 * and writes the posts and their events: one round trip and one commit for all of them. So a hot
 * channel's throughput grows with its load, and many quiet channels share round trips too.
 * Without contention a statement is one post. A channel locked by another writer (another
 * replica, an edit, an outside lock) is skipped by the shared statement (SKIP LOCKED) and its
 * posts go through ChannelWriteQueue alone, waiting for the lock up to the lock timeout: one
 * stuck channel never holds up the others.
 */
@Injectable()
export class PostBatcher {
  /** Posts not yet in a statement, per channel, in arrival order. */
  private readonly pending = new Map<string, Waiting[]>();
  /** Channels with posts in a statement now. */
  private readonly inFlight = new Set<string>();
  /** Channels recently found locked by another writer: written alone, waiting, until then. */
  private readonly contendedUntil = new Map<string, number>();
  private sharedRunning = 0;
  /** Shared statements at once: a quarter of the pool, so other routes always find connections. */
  private readonly maxShared: number;

  constructor(
    private readonly db: Db,
    private readonly writes: ChannelWriteQueue,
    private readonly outbox: OutboxService,
    config: AppConfig,
  ) {
    this.maxShared = Math.max(1, Math.floor(config.databasePoolSize / 4));
  }

  post(channelId: string, request: PostRequest): Promise<PostOutcome> {
    return new Promise<PostOutcome>((resolve, reject) => {
      const waiting: Waiting = { channelId, request, resolve, reject };
      const queue = this.pending.get(channelId);
      if (queue) queue.push(waiting);
      else this.pending.set(channelId, [waiting]);
      this.pump();
    });
  }

  /** Starts statements for what is pending, as far as the limits allow. */
  private pump(): void {
    const now = Date.now();
    let shared: Waiting[] = [];
    for (const [channelId, queue] of this.pending) {
      if (this.inFlight.has(channelId)) continue;
      const contended = this.contendedUntil.get(channelId);
      if (contended !== undefined && contended > now) {
        this.take(channelId, queue.length);
        this.writeAlone(channelId, queue);
        continue;
      }
      if (contended !== undefined) this.contendedUntil.delete(channelId);
      if (this.sharedRunning >= this.maxShared) continue;
      const room = MAX_BATCH - shared.length;
      const taken = this.take(channelId, room);
      shared = shared.concat(taken);
      if (shared.length >= MAX_BATCH) {
        this.writeShared(shared);
        shared = [];
      }
    }
    if (shared.length > 0) this.writeShared(shared);
  }

  /** Takes up to `n` of a channel's pending posts into a statement; the channel is in flight until it ends. */
  private take(channelId: string, n: number): Waiting[] {
    const queue = this.pending.get(channelId)!;
    const taken = queue.length <= n ? queue : queue.splice(0, n);
    if (taken === queue) this.pending.delete(channelId);
    this.inFlight.add(channelId);
    return taken;
  }

  private release(channelIds: Iterable<string>): void {
    for (const id of channelIds) this.inFlight.delete(id);
    this.pump();
  }

  /** One statement for posts of several channels; a channel another writer holds is skipped. */
  private writeShared(items: Waiting[]): void {
    this.sharedRunning++;
    const channels = new Set(items.map((w) => w.channelId));
    void this.execute(items, false)
      .then((rows) => {
        const busy = new Map<string, Waiting[]>();
        this.settle(items, rows, (w) => {
          const list = busy.get(w.channelId);
          if (list) list.push(w);
          else busy.set(w.channelId, [w]);
        });
        for (const [channelId, waiting] of busy) {
          this.contendedUntil.set(channelId, Date.now() + CONTENDED_MS);
          channels.delete(channelId);
          // Still in flight: its posts go on alone, before any later post of the channel.
          this.writeAlone(channelId, waiting);
        }
      })
      .catch((err: unknown) => this.fail(items, err))
      .finally(() => {
        this.sharedRunning--;
        this.release(channels);
      });
  }

  /** One statement for one channel's posts, waiting for its lock (behind this replica's other writes to it). */
  private writeAlone(channelId: string, items: Waiting[]): void {
    this.inFlight.add(channelId);
    this.writes
      .run(channelId, () => this.execute(items, true))
      .then((rows) =>
        this.settle(items, rows, (w) =>
          w.reject(new Error('post_messages skipped a channel it was to wait for')),
        ),
      )
      .catch((err: unknown) => {
        this.fail(items, err);
        // The channel's lock is stuck: what waits behind these posts would wait for it too.
        if (isLockTimeout(err) || err instanceof UnavailableError) {
          const queued = this.pending.get(channelId);
          this.pending.delete(channelId);
          for (const w of queued ?? [])
            w.reject(new UnavailableError('the channel is busy, try again shortly'));
        }
      })
      .finally(() => this.release([channelId]));
  }

  /**
   * A failed statement: an outage (or a refusal, such as a stuck channel) fails its posts;
   * anything else is retried post by post, so only the culprit fails.
   */
  private fail(items: Waiting[], err: unknown): void {
    if (items.length === 1 || isOutage(err) || err instanceof AppError) {
      for (const w of items) w.reject(err);
      return;
    }
    void (async () => {
      for (const w of items) {
        await this.execute([w], true).then(
          (rows) => this.settle([w], rows, (x) => x.reject(err)),
          (e: unknown) => w.reject(e),
        );
      }
    })();
  }

  /**
   * Answers each post from its row, once the events of the statement are on the bus (issued now,
   * in seq order, before the channel's next statement can run). Posts whose channel was skipped
   * go to `onBusy`.
   */
  private settle(items: Waiting[], rows: Row[], onBusy: (w: Waiting) => void): void {
    const events: CommittedEvent[] = [];
    const answers: [Waiting, PostOutcome | Error][] = [];
    items.forEach((w, i) => {
      const row = rows[i];
      if (!row) return answers.push([w, new Error('post_messages returned fewer rows than posts')]);
      switch (row.status) {
        case 'busy':
          return onBusy(w);
        case 'created':
          events.push({
            id: row.event_id!,
            channelId: w.channelId,
            json: eventJson(
              row.event_id!,
              'message.created',
              w.channelId,
              Number(row.event_seq),
              row.body!,
              row.event_created_at!,
            ),
            notifyUserIds: [],
          });
          return answers.push([w, { status: 'created', messageId: row.message_id!, body: row.body! }]);
        case 'replay':
        case 'mismatch':
          return answers.push([w, { status: row.status, messageId: row.message_id! }]);
        case 'forbidden':
        case 'not_found':
        case 'archived':
        case 'bad_parent':
        case 'bad_attachment':
          return answers.push([w, { status: row.status }]);
      }
    });
    void this.outbox.publish(events).then(() => {
      for (const [w, outcome] of answers) {
        if (outcome instanceof Error) w.reject(outcome);
        else w.resolve(outcome);
      }
    });
  }

  private execute(items: Waiting[], wait: boolean): Promise<Row[]> {
    return this.db.query<Row>(
      POST_SQL,
      [
        items.map((w) => w.channelId),
        items.map((w) => w.request.authorId),
        items.map((w) => w.request.content),
        items.map((w) => w.request.nonce),
        items.map((w) => w.request.parentId),
        items.map((w) => w.request.mentions),
        items.map((w) => w.request.attachments),
        wait,
      ],
      'post_messages',
    );
  }
}
