import { Injectable } from '@nestjs/common';
import { Db, MetricsService } from '@cariosan/core';

export type DeliveryOutcome = 'delivered' | 'failed' | 'refused' | 'timeout' | 'gone' | 'skipped';

/** Webhook series on /metrics: attempts by outcome, the first attempt's lag, the oldest pending delivery's age. */
@Injectable()
export class WebhookMetrics {
  private readonly outcomes;
  private readonly lag;

  constructor(metrics: MetricsService, db: Db) {
    this.outcomes = metrics.counter(
      'cariosan_webhook_deliveries_total',
      'Webhook delivery attempts made by this replica, by outcome (delivered, failed, refused by the address guard, timeout, gone: 410, skipped: owner no longer a member)',
      ['outcome'],
    );
    for (const o of ['delivered', 'failed', 'refused', 'timeout', 'gone', 'skipped'])
      this.outcomes.inc({ outcome: o }, 0);
    this.lag = metrics.histogram(
      'cariosan_webhook_first_attempt_lag_seconds',
      'From an event being stored to its first delivery attempt starting',
      [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    );
    const gauge = metrics.gauge(
      'cariosan_webhook_oldest_pending_seconds',
      'Age of the oldest webhook delivery not yet delivered, failed for good or skipped (0 when none)',
    );
    // Read at scrape time, from the shared database: the same on every replica.
    (gauge as unknown as { collect?: () => Promise<void> }).collect = async () => {
      try {
        const [row] = await db.query<{ age: number | null }>(
          `SELECT extract(epoch FROM now() - min(created_at))::float8 AS age FROM webhook_deliveries WHERE status = 'pending'`,
        );
        gauge.set(row?.age ?? 0);
      } catch {
        // Postgres down: the series keeps its last value; readiness tells the outage.
      }
    };
  }

  outcome(outcome: DeliveryOutcome): void {
    this.outcomes.inc({ outcome });
  }

  firstAttemptLag(ms: number): void {
    this.lag.observe(Math.max(0, ms) / 1000);
  }
}
