export * from './attachment-urls';
export * from './attachments.dto';
export * from './attachments.module';
export * from './attachments.service';
export * from './attachments.sweeper';
export * from './filenames';
export * from './storage/local-storage';

import { Attachment } from './attachment.entity';
export { Attachment };
export const ATTACHMENTS_ENTITIES = [Attachment];
