import { Module } from '@nestjs/common';
import { ChannelsController, DmsController } from './channels.controller';
import { ChannelsService } from './channels.service';

@Module({
  controllers: [ChannelsController, DmsController],
  providers: [ChannelsService],
  exports: [ChannelsService],
})
export class ChannelsModule {}
