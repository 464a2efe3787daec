import { AppError, ErrorCode } from '@cariosan/core';

export enum ChannelsErrorCode {
  ChannelNotFound = 'channel_not_found',
  NotAMember = 'not_a_member',
  NotOwner = 'not_owner',
  Archived = 'channel_archived',
  DirectChannelFixed = 'direct_channel_fixed',
  UserNotFound = 'user_not_found',
  MemberNotFound = 'member_not_found',
  UnknownUsers = 'unknown_users',
}

const HTTP_CODE: Record<ChannelsErrorCode, ErrorCode> = {
  [ChannelsErrorCode.ChannelNotFound]: 'not_found',
  [ChannelsErrorCode.NotAMember]: 'forbidden',
  [ChannelsErrorCode.NotOwner]: 'forbidden',
  [ChannelsErrorCode.Archived]: 'forbidden',
  [ChannelsErrorCode.DirectChannelFixed]: 'forbidden',
  [ChannelsErrorCode.UserNotFound]: 'not_found',
  [ChannelsErrorCode.MemberNotFound]: 'not_found',
  [ChannelsErrorCode.UnknownUsers]: 'validation_failed',
};

const MESSAGE: Record<ChannelsErrorCode, string> = {
  [ChannelsErrorCode.ChannelNotFound]: 'channel not found',
  [ChannelsErrorCode.NotAMember]: 'only members of this channel may do that',
  [ChannelsErrorCode.NotOwner]: 'only the channel owner or a server admin may do that',
  [ChannelsErrorCode.Archived]: 'the channel is archived',
  [ChannelsErrorCode.DirectChannelFixed]: 'direct channels have a fixed set of members and no owner',
  [ChannelsErrorCode.UserNotFound]: 'user not found',
  [ChannelsErrorCode.MemberNotFound]: 'that user is not a member of this channel',
  [ChannelsErrorCode.UnknownUsers]: 'request validation failed',
};

export class ChannelsError extends AppError {
  constructor(
    readonly reason: ChannelsErrorCode,
    details: unknown[] = [],
  ) {
    super(HTTP_CODE[reason], MESSAGE[reason], details);
  }
}
