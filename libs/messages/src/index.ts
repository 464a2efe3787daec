export * from './dto/message.dto';
export * from './entities/message-reaction.entity';
export * from './entities/message.entity';
export * from './messages.errors';
export * from './messages.module';
export * from './messages.service';
export * from './utils/emoji';
export * from './utils/mentions';

import { MessageReaction } from './entities/message-reaction.entity';
import { Message } from './entities/message.entity';
export const MESSAGES_ENTITIES = [Message, MessageReaction];
