import { Module } from '@nestjs/common';
import { AttachmentsModule } from '@cariosan/attachments';
import { ChannelsModule } from '@cariosan/channels';
import { MessagesModule } from '@cariosan/messages';
import { RateLimitModule } from '@cariosan/ratelimit';
import { AttemptRecorder } from './delivery/attempt-recorder';
import { DeliveryStore } from './delivery/delivery-store';
import { DeliveryWorker } from './delivery/delivery-worker';
import { SecretBox } from './delivery/secret-box';
import { WebhookMetrics } from './delivery/webhook-metrics';
import { IncomingHookController, IncomingWebhooksController } from './incoming/incoming-webhooks.controller';
import { IncomingWebhooksService } from './incoming/incoming-webhooks.service';
import { WebhooksController } from './webhooks.controller';
import { WebhooksService } from './webhooks.service';

/**
 * Outgoing webhooks (CRUD, delivery workers in every replica) and incoming webhooks. Reacts to
 * domain events through the rows store_event writes; no domain imports it.
 */
@Module({
  imports: [AttachmentsModule, ChannelsModule, MessagesModule, RateLimitModule],
  controllers: [WebhooksController, IncomingWebhooksController, IncomingHookController],
  providers: [
    WebhooksService,
    IncomingWebhooksService,
    SecretBox,
    DeliveryStore,
    AttemptRecorder,
    DeliveryWorker,
    WebhookMetrics,
  ],
})
export class WebhooksModule {}
