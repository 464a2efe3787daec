import { Module } from '@nestjs/common';
import { AttachmentsModule } from '@cariosan/attachments';
import { ChannelsModule } from '@cariosan/channels';
import { MessagesController, ReadStateController } from './messages.controller';
import { MessagesService } from './messages.service';
import { PostBatcher } from './post-batcher';

@Module({
  imports: [ChannelsModule, AttachmentsModule],
  controllers: [MessagesController, ReadStateController],
  providers: [MessagesService, PostBatcher],
  exports: [MessagesService],
})
export class MessagesModule {}
