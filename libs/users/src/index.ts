export * from './auth.guard';
export * from './dto/user.response';
export * from './entities/auth-token.entity';
export * from './entities/user.entity';
export * from './users.errors';
export * from './users.module';
export * from './users.service';
export * from './accounts';
export * from './invites';

import { AuthToken } from './entities/auth-token.entity';
import { Invite } from './entities/invite.entity';
import { User } from './entities/user.entity';
export const USERS_ENTITIES = [User, AuthToken, Invite];
