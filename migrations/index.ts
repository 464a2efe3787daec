import { CORE_ENTITIES, type Schema } from '@cariosan/core';
import { ATTACHMENTS_ENTITIES } from '@cariosan/attachments';
import { CHANNELS_ENTITIES } from '@cariosan/channels';
import { MESSAGES_ENTITIES } from '@cariosan/messages';
import { USERS_ENTITIES } from '@cariosan/users';
import { WEBHOOKS_ENTITIES } from '@cariosan/webhooks';
import { Init1764100000000 } from './1764100000000-init';
import { ChannelsMessagesOutbox1764200000000 } from './1764200000000-channels-messages-outbox';
import { WritePath1764300000000 } from './1764300000000-write-path';
import { Invites1764410000000 } from './1764410000000-invites';
import { Attachments1764500000000 } from './1764500000000-attachments';
import { Webhooks1764600000000 } from './1764600000000-webhooks';

/**
 * The database schema: every entity and every migration, in order. Adding a migration
 * means adding it here; the drift test fails when entities and migrations disagree.
 */
export const SCHEMA: Schema = {
  entities: [
    ...CORE_ENTITIES,
    ...USERS_ENTITIES,
    ...CHANNELS_ENTITIES,
    ...MESSAGES_ENTITIES,
    ...ATTACHMENTS_ENTITIES,
    ...WEBHOOKS_ENTITIES,
  ],
  migrations: [
    Init1764100000000,
    ChannelsMessagesOutbox1764200000000,
    WritePath1764300000000,
    Invites1764410000000,
    Attachments1764500000000,
    Webhooks1764600000000,
  ],
};
