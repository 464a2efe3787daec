import { Module } from '@nestjs/common';
import { ChannelsModule } from '@cariosan/channels';
import { MessagesController, ReadStateController } from './messages.controller';
import { MessagesService } from './messages.service';

@Module({
  imports: [ChannelsModule],
  controllers: [MessagesController, ReadStateController],
  providers: [MessagesService],
  exports: [MessagesService],
})
export class MessagesModule {}
