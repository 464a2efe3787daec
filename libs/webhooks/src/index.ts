export * from './webhooks.module';
export * from './webhooks.errors';
export * from './delivery/delivery-body';
export * from './delivery/signing';

import { IncomingWebhook } from './entities/incoming-webhook.entity';
import { WebhookAttempt } from './entities/webhook-attempt.entity';
import { WebhookDelivery } from './entities/webhook-delivery.entity';
import { Webhook } from './entities/webhook.entity';
export const WEBHOOKS_ENTITIES = [Webhook, WebhookDelivery, WebhookAttempt, IncomingWebhook];
