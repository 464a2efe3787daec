import { Injectable } from '@nestjs/common';
import {
  ChannelWriteQueue,
  type CommittedEvent,
  Db,
  eventJson,
  isOutage,
  OutboxService,
} from '@cariosan/core';

/** One post as the SQL function `post_messages` takes it. */
export interface PostRequest {
  authorId: string;
  content: string;
  nonce: string | null;
  parentId: string | null;
  /** The readings of each @mention, most literal first: "ada.,ada bob" (see mentionGroups). */
  mentions: string | null;
}

export type PostOutcome =
  | { status: 'created'; messageId: string; body: string }
  | { status: 'replay' | 'mismatch'; messageId: string }
  | { status: 'forbidden' | 'not_found' | 'archived' | 'bad_parent' };

interface Row {
  status: PostOutcome['status'];
  message_id: string | null;
  event_id: string | null;
  event_seq: string | null;
  event_created_at: string | null;
  body: string | null;
}

interface Waiting {
  request: PostRequest;
  resolve: (outcome: PostOutcome) => void;
  reject: (err: unknown) => void;
}

interface Batch {
  channelId: string;
  items: Waiting[];
  taken: boolean;
}

/** Most posts written by one statement: bounds the time a batch holds its channel's lock. */
const MAX_BATCH = 100;

const POST_SQL = `SELECT status, message_id, event_id, event_seq::text AS event_seq, event_created_at, body
  FROM post_messages($1, $2, $3, $4, $5, $6)`;

/**
 * Writes posts with one statement per channel turn. Posts to one channel wait in this replica's
 * ChannelWriteQueue (Postgres would serialise them on the channel's lock anyway); when their turn
 * comes, every post that arrived meanwhile goes in the same call of `post_messages`: one round
 * trip and one commit for all of them, so a hot channel's throughput grows with its load instead
 * of being capped by one lock hold per post. Without contention a batch is one post.
 */
@Injectable()
export class PostBatcher {
  /** Per channel, the batch still taking posts (its turn has not come yet). */
  private readonly open = new Map<string, Batch>();

  constructor(
    private readonly db: Db,
    private readonly writes: ChannelWriteQueue,
    private readonly outbox: OutboxService,
  ) {}

  post(channelId: string, request: PostRequest): Promise<PostOutcome> {
    return new Promise<PostOutcome>((resolve, reject) => {
      const waiting: Waiting = { request, resolve, reject };
      const batch = this.open.get(channelId);
      if (batch && batch.items.length < MAX_BATCH) {
        batch.items.push(waiting);
        return;
      }
      const fresh: Batch = { channelId, items: [waiting], taken: false };
      this.open.set(channelId, fresh);
      this.writes
        .run(channelId, () => this.write(fresh))
        .catch((err: unknown) => {
          // Refused before its turn (the write ahead timed out on the channel's lock).
          if (fresh.taken) return;
          this.close(fresh);
          for (const w of fresh.items) w.reject(err);
        });
    });
  }

  private close(batch: Batch): void {
    if (this.open.get(batch.channelId) === batch) this.open.delete(batch.channelId);
  }

  /** The batch's turn: one statement, then the events go to the bus in seq order. Settles every item. */
  private async write(batch: Batch): Promise<void> {
    batch.taken = true;
    this.close(batch);
    const { channelId, items } = batch;
    let rows: Row[];
    try {
      rows = await this.execute(
        channelId,
        items.map((w) => w.request),
      );
    } catch (err) {
      if (items.length === 1 || isOutage(err)) {
        for (const w of items) w.reject(err);
        return;
      }
      // Something about one post failed the statement: write them one by one, so only it fails.
      for (const w of items) {
        await this.execute(channelId, [w.request]).then(
          (single) => this.settle(channelId, [w], single),
          (e: unknown) => w.reject(e),
        );
      }
      return;
    }
    this.settle(channelId, items, rows);
  }

  private settle(channelId: string, items: Waiting[], rows: Row[]): void {
    const events: CommittedEvent[] = [];
    const outcomes = items.map((_, i): PostOutcome | Error => {
      const row = rows[i];
      if (!row) return new Error('post_messages returned fewer rows than posts');
      if (row.status === 'created') {
        events.push({
          id: row.event_id!,
          channelId,
          json: eventJson(
            row.event_id!,
            'message.created',
            channelId,
            Number(row.event_seq),
            row.body!,
            row.event_created_at!,
          ),
          notifyUserIds: [],
        });
        return { status: 'created', messageId: row.message_id!, body: row.body! };
      }
      if (row.status === 'replay' || row.status === 'mismatch')
        return { status: row.status, messageId: row.message_id! };
      return { status: row.status };
    });
    // Issued now, in seq order, before the channel's next batch can run; answers wait for the bus.
    void this.outbox.publish(events).then(() => {
      items.forEach((w, i) => {
        const outcome = outcomes[i]!;
        if (outcome instanceof Error) w.reject(outcome);
        else w.resolve(outcome);
      });
    });
  }

  private execute(channelId: string, requests: PostRequest[]): Promise<Row[]> {
    return this.db.query<Row>(
      POST_SQL,
      [
        channelId,
        requests.map((r) => r.authorId),
        requests.map((r) => r.content),
        requests.map((r) => r.nonce),
        requests.map((r) => r.parentId),
        requests.map((r) => r.mentions),
      ],
      'post_messages',
    );
  }
}
