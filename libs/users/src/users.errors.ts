import { AppError, ErrorCode } from '@cariosan/core';

export enum UsersErrorCode {
  UsernameTaken = 'username_taken',
  BadCredentials = 'bad_credentials',
  UserNotFound = 'user_not_found',
  RegistrationClosed = 'registration_closed',
  AdminRegistersFirst = 'admin_registers_first',
  InviteInvalid = 'invite_invalid',
  InviteNotFound = 'invite_not_found',
  AdminOnly = 'admin_only',
}

const HTTP_CODE: Record<UsersErrorCode, ErrorCode> = {
  [UsersErrorCode.UsernameTaken]: 'conflict',
  [UsersErrorCode.BadCredentials]: 'unauthorized',
  [UsersErrorCode.UserNotFound]: 'not_found',
  [UsersErrorCode.RegistrationClosed]: 'forbidden',
  [UsersErrorCode.AdminRegistersFirst]: 'forbidden',
  [UsersErrorCode.InviteInvalid]: 'forbidden',
  [UsersErrorCode.InviteNotFound]: 'not_found',
  [UsersErrorCode.AdminOnly]: 'forbidden',
};

const MESSAGE: Record<UsersErrorCode, string> = {
  [UsersErrorCode.UsernameTaken]: 'that username is taken',
  [UsersErrorCode.BadCredentials]: 'invalid username or password',
  [UsersErrorCode.UserNotFound]: 'user not found',
  [UsersErrorCode.RegistrationClosed]:
    'registration is closed on this server: ask its administrator for an account',
  [UsersErrorCode.AdminRegistersFirst]: 'registration opens once the server administrator has registered',
  [UsersErrorCode.InviteInvalid]: 'the invite code is unknown, expired or already used',
  [UsersErrorCode.InviteNotFound]: 'invite not found',
  [UsersErrorCode.AdminOnly]: 'only server administrators may do this',
};

export class UsersError extends AppError {
  constructor(readonly reason: UsersErrorCode) {
    super(HTTP_CODE[reason], MESSAGE[reason]);
  }
}
