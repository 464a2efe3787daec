import type { Schema } from '@cariosan/core';
import { USERS_ENTITIES } from '@cariosan/users';
import { Init1764100000000 } from './1764100000000-init';

/**
 * The database schema: every entity and every migration, in order. Adding a migration
 * means adding it here; the drift test fails when entities and migrations disagree.
 */
export const SCHEMA: Schema = {
  entities: [...USERS_ENTITIES],
  migrations: [Init1764100000000],
};
