import { AppError, ErrorCode } from '@cariosan/core';

export enum UsersErrorCode {
  UsernameTaken = 'username_taken',
  BadCredentials = 'bad_credentials',
  UserNotFound = 'user_not_found',
}

const HTTP_CODE: Record<UsersErrorCode, ErrorCode> = {
  [UsersErrorCode.UsernameTaken]: 'conflict',
  [UsersErrorCode.BadCredentials]: 'unauthorized',
  [UsersErrorCode.UserNotFound]: 'not_found',
};

const MESSAGE: Record<UsersErrorCode, string> = {
  [UsersErrorCode.UsernameTaken]: 'that username is taken',
  [UsersErrorCode.BadCredentials]: 'invalid username or password',
  [UsersErrorCode.UserNotFound]: 'user not found',
};

export class UsersError extends AppError {
  constructor(readonly reason: UsersErrorCode) {
    super(HTTP_CODE[reason], MESSAGE[reason]);
  }
}
