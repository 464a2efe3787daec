import { Global, Module } from '@nestjs/common';
import { ChannelWriteQueue } from './channel-write-queue';
import { OutboxPublisher } from './outbox-publisher';
import { OutboxRetention } from './outbox.retention';
import { OutboxService } from './outbox.service';
import { OutboxSweeper } from './outbox.sweeper';

/**
 * The transactional outbox every domain writes its events to: writers publish their own events
 * after their commit, a sweeper in every replica publishes what was left pending, and retention
 * drops a day of events at a time.
 */
@Global()
@Module({
  providers: [OutboxService, OutboxPublisher, OutboxSweeper, OutboxRetention, ChannelWriteQueue],
  exports: [OutboxService, OutboxPublisher, OutboxSweeper, ChannelWriteQueue],
})
export class OutboxModule {}
