export * from './channels.errors';
export * from './channels.module';
export * from './channels.service';
export * from './dto/channel.dto';
export * from './entities/channel-member.entity';
export * from './entities/channel.entity';

import { ChannelMember } from './entities/channel-member.entity';
import { Channel } from './entities/channel.entity';
export const CHANNELS_ENTITIES = [Channel, ChannelMember];
