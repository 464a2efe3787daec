import {
  BeforeApplicationShutdown,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  Optional,
} from '@nestjs/common';
import { AttachmentUrls } from '@cariosan/attachments';
import { AppConfig, describeError, OutboxPublisher, ShutdownState } from '@cariosan/core';
import { AttemptRecorder } from './attempt-recorder';
import { buildDeliveryBody } from './delivery-body';
import { AttemptRecord, ClaimedDelivery, DeliveryStore } from './delivery-store';
import { nextRetry, parseRetryAfter } from './retry-policy';
import { SecretBox } from './secret-box';
import { signatureHeader } from './signing';
import { guardedAgents, GuardedAgents } from './ssrf-guard';
import { HttpResult, postWebhook } from './webhook-http';
import { WebhookMetrics } from './webhook-metrics';

/** Requests one replica has in flight at most, over all endpoints. */
export const MAX_IN_FLIGHT = 256;
/** Requests one replica has in flight at most to one endpoint: a slow receiver holds only these. */
export const PER_ENDPOINT = 8;
/** How often a busy worker looks for due deliveries (retries coming due, other replicas' events). */
const POLL_MS = 50;
/**
 * How often an idle one does (one cheap statement a second: the idle budget of a replica). Commits
 * in this replica wake the worker at once, and retries this replica scheduled are polled for
 * closely around their due time (nextDue); a retry scheduled by a replica that died, or an event
 * committed by a replica with no worker awake, waits at most this long. LISTEN/NOTIFY from
 * store_event would remove even that.
 */
const IDLE_POLL_MS = 1_000;
/** How often a worker checks whether any webhook is enabled (commits wake it only then). */
const ENABLED_CHECK_MS = 10_000;
const CLAIM_BATCH = 200;
const PRUNE_EVERY_MS = 10 * 60_000;
/** Claims are batched: woken by every written batch, a worker still claims at most this often. */
const MIN_CLAIM_GAP_MS = 20;

/**
 * Runs in every replica: claims due deliveries (DeliveryStore.claim), posts them, and hands the
 * results to the recorder. Never waits on the bus or on another replica; a replica that dies
 * leaves leases that expire, and the others take the rows over.
 */
@Injectable()
export class DeliveryWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('WebhookWorker');
  private readonly agents: GuardedAgents;
  private readonly inFlight = new Map<string, number>();
  private readonly running = new Set<Promise<void>>();
  private total = 0;
  private stopped = false;
  private failing = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;
  private starved = false;
  private lastClaim = 0;
  private idle = false;
  private haveWebhooks = true;
  /** The earliest retry this replica scheduled that may not have been claimed yet. */
  private nextDue = Infinity;
  private enabledCheck: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: AppConfig,
    private readonly store: DeliveryStore,
    private readonly recorder: AttemptRecorder,
    private readonly secrets: SecretBox,
    private readonly metrics: WebhookMetrics,
    shutdown: ShutdownState,
    publisher: OutboxPublisher,
    @Optional() private readonly urls?: AttachmentUrls,
  ) {
    // A commit here may have written deliveries: claim now (at most every MIN_CLAIM_GAP_MS).
    publisher.onCommitted(() => {
      if (this.haveWebhooks) this.wake?.();
    });
    // Sockets per origin: many webhooks may share one host; the per-endpoint bound is ours (inFlight).
    this.agents = guardedAgents(config.webhookAllowPrivateNetworks, MAX_IN_FLIGHT);
    recorder.onWritten(() => this.wake?.());
    shutdown.onDrain(() => {
      this.stopped = true;
      this.wake?.();
    });
  }

  onApplicationBootstrap(): void {
    this.loop = this.run();
    this.pruneTimer = setInterval(
      () => {
        this.store.prune().catch((err: unknown) => {
          this.logger.warn(`pruning old webhook deliveries failed: ${describeError(err).message}`);
        });
      },
      PRUNE_EVERY_MS * (0.9 + Math.random() * 0.2),
    );
    this.pruneTimer.unref();
    this.enabledCheck = setInterval(() => {
      this.store.anyEnabled().then(
        (any) => {
          const had = this.haveWebhooks;
          this.haveWebhooks = any;
          if (any && !had) this.wake?.();
        },
        () => (this.haveWebhooks = true),
      );
    }, ENABLED_CHECK_MS);
    this.enabledCheck.unref();
  }

  /** A webhook was created or enabled, or a delivery queued, in this replica: look soon. */
  noteWebhooks(dueNow = false): void {
    const had = this.haveWebhooks;
    this.haveWebhooks = true;
    if (dueNow || !had) {
      this.nextDue = Date.now();
      this.wake?.();
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.pruneTimer);
    clearInterval(this.enabledCheck);
    this.wake?.();
    await this.loop;
    // Requests finish within 15 s; what is not written by then is retried after its lease.
    const settle = new Promise((r) => setTimeout(r, 5_000).unref());
    await Promise.race([Promise.all(this.running), settle]);
    await Promise.race([this.recorder.drain(), new Promise((r) => setTimeout(r, 2_000).unref())]);
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      // No webhook is enabled anywhere: nothing can be due. Look again when one is created here,
      // or at the next check of the table.
      if (!this.haveWebhooks) {
        this.idle = true;
        await this.sleep(ENABLED_CHECK_MS);
        continue;
      }
      const room = MAX_IN_FLIGHT - this.total;
      let claimed = 0;
      this.starved = room < MAX_IN_FLIGHT / 4;
      if (!this.starved) {
        this.lastClaim = Date.now();
        try {
          const rows = await this.store.claim(Math.min(room, CLAIM_BATCH), PER_ENDPOINT, this.inFlight);
          if (this.failing) this.logger.log('claiming webhook deliveries works again');
          this.failing = false;
          claimed = rows.length;
          if (claimed > 0) this.idle = false;
          else if (this.total === 0) this.idle = true;
          for (const d of rows) this.start(d);
        } catch (err) {
          if (!this.failing)
            this.logger.warn(`claiming webhook deliveries failed, retrying: ${describeError(err).message}`);
          this.failing = true;
          await this.sleep(1_000);
          continue;
        }
      }
      // A full batch: there may be more right away. Otherwise wait for the next poll, or until a
      // batch of results is written (the next event of a channel may be due) or, when the slots
      // ran out, until a quarter of them are free.
      if (this.starved || claimed < Math.min(room, CLAIM_BATCH)) await this.sleep(this.pollDelay());
    }
  }

  /** Busy: the short poll. Idle: the long one, or until the earliest retry this replica scheduled. */
  private pollDelay(): number {
    if (!this.idle) return POLL_MS;
    const untilDue = this.nextDue - Date.now();
    // The row's due time is set by Postgres when the result is written, a little later than
    // nextDue: keep the short poll for a while past it (another replica may also have taken it).
    if (untilDue < -2_000) this.nextDue = Infinity;
    return Math.max(POLL_MS, Math.min(IDLE_POLL_MS, untilDue));
  }

  /** Waits `ms`, or less when woken, but never claims more often than every MIN_CLAIM_GAP_MS. */
  private async sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref();
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = undefined;
        done();
      };
    });
    const gap = this.lastClaim + MIN_CLAIM_GAP_MS - Date.now();
    if (gap > 0 && !this.stopped) await new Promise((r) => setTimeout(r, gap).unref());
  }

  private start(d: ClaimedDelivery): void {
    this.total++;
    this.inFlight.set(d.webhookId, (this.inFlight.get(d.webhookId) ?? 0) + 1);
    const task = this.attempt(d)
      .then((record) => {
        if (record.next === 'pending') this.nextDue = Math.min(this.nextDue, Date.now() + record.delayMs);
        this.recorder.add(record);
      })
      .catch((err: unknown) => this.logger.error(`webhook attempt crashed: ${describeError(err).message}`))
      .finally(() => {
        this.total--;
        const n = (this.inFlight.get(d.webhookId) ?? 1) - 1;
        if (n > 0) this.inFlight.set(d.webhookId, n);
        else this.inFlight.delete(d.webhookId);
        this.running.delete(task);
        // Out of slots: claim again once a quarter of them are free, not once per finished request.
        if (this.starved && MAX_IN_FLIGHT - this.total >= MAX_IN_FLIGHT / 4) this.wake?.();
      });
    this.running.add(task);
  }

  /** One attempt of one delivery, decided into a record. */
  private async attempt(d: ClaimedDelivery): Promise<AttemptRecord> {
    const started = performance.now();
    const base = { id: d.id, leaseToken: d.leaseToken, responseStatus: null, gone: false };
    const elapsed = () => Math.round(performance.now() - started);
    if (!d.readable) {
      this.metrics.outcome('skipped');
      return {
        ...base,
        next: 'skipped',
        delayMs: 0,
        logged: 'skipped',
        error: "the webhook's owner is no longer a member of this channel",
        durationMs: 0,
      };
    }
    const secrets = [d.secret, d.previousSecret]
      .filter((s): s is string => s !== null)
      .map((s) => this.secrets.open(s));
    let result: HttpResult;
    if (secrets[0] === undefined) {
      result = {
        kind: 'error',
        error: 'the secret cannot be read: CARIOS_WEBHOOK_SECRET_KEY is missing or changed',
      };
    } else {
      if (d.attempts === 0) this.metrics.firstAttemptLag(Date.now() - Date.parse(d.createdAt));
      const body = await buildDeliveryBody(d, this.urls);
      const timestamp = Math.floor(Date.now() / 1000);
      result = await postWebhook(this.agents, {
        url: d.url,
        body,
        headers: {
          'webhook-id': d.eventId,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signatureHeader(
            secrets.filter((s): s is string => s !== undefined),
            d.eventId,
            timestamp,
            body,
          ),
        },
      });
    }
    const durationMs = elapsed();
    if (result.kind === 'response' && result.status >= 200 && result.status < 300) {
      this.metrics.outcome('delivered');
      return {
        ...base,
        next: 'delivered',
        delayMs: 0,
        logged: 'delivered',
        responseStatus: result.status,
        error: null,
        durationMs,
      };
    }
    const gone = result.kind === 'response' && result.status === 410;
    const logged = result.kind === 'timeout' ? 'timeout' : result.kind === 'refused' ? 'refused' : 'failed';
    this.metrics.outcome(gone ? 'gone' : logged);
    const retryAfter =
      result.kind === 'response' && (result.status === 429 || result.status === 503)
        ? parseRetryAfter(result.retryAfter)
        : undefined;
    const decision = gone
      ? { retry: false as const }
      : nextRetry(this.config.webhookRetryScheduleMs, d.failures + 1, retryAfter);
    return {
      ...base,
      next: decision.retry ? 'pending' : 'failed',
      delayMs: decision.retry ? decision.delayMs : 0,
      logged,
      responseStatus: result.kind === 'response' ? result.status : null,
      error:
        result.kind === 'response'
          ? gone
            ? 'the endpoint answered 410 Gone: disabled'
            : null
          : result.error,
      durationMs,
      gone,
    };
  }
}
