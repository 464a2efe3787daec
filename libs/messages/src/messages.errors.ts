import { AppError, ErrorCode } from '@cariosan/core';

export enum MessagesErrorCode {
  MessageNotFound = 'message_not_found',
  NotAuthor = 'not_author',
  CannotDelete = 'cannot_delete',
  IdempotencyMismatch = 'idempotency_mismatch',
  BadParent = 'bad_parent',
  AttachmentTaken = 'attachment_taken',
  EmptyContent = 'empty_content',
  BadEmoji = 'bad_emoji',
  BadReadMarker = 'bad_read_marker',
}

const HTTP_CODE: Record<MessagesErrorCode, ErrorCode> = {
  [MessagesErrorCode.MessageNotFound]: 'not_found',
  [MessagesErrorCode.NotAuthor]: 'forbidden',
  [MessagesErrorCode.CannotDelete]: 'forbidden',
  [MessagesErrorCode.IdempotencyMismatch]: 'idempotency_mismatch',
  [MessagesErrorCode.BadParent]: 'validation_failed',
  [MessagesErrorCode.AttachmentTaken]: 'validation_failed',
  [MessagesErrorCode.EmptyContent]: 'validation_failed',
  [MessagesErrorCode.BadEmoji]: 'validation_failed',
  [MessagesErrorCode.BadReadMarker]: 'validation_failed',
};

const MESSAGE: Record<MessagesErrorCode, string> = {
  [MessagesErrorCode.MessageNotFound]: 'message not found',
  [MessagesErrorCode.NotAuthor]: 'only the author may edit a message',
  [MessagesErrorCode.CannotDelete]:
    'only the author, the channel owner or a server admin may delete a message',
  [MessagesErrorCode.IdempotencyMismatch]:
    'this nonce was already used for a different message in this channel',
  [MessagesErrorCode.BadParent]: 'request validation failed',
  [MessagesErrorCode.AttachmentTaken]: 'request validation failed',
  [MessagesErrorCode.EmptyContent]: 'request validation failed',
  [MessagesErrorCode.BadEmoji]: 'request validation failed',
  [MessagesErrorCode.BadReadMarker]: 'request validation failed',
};

/** Field-level explanation for the 400s. */
const DETAIL: Partial<Record<MessagesErrorCode, { field: string; message: string }>> = {
  [MessagesErrorCode.BadParent]: {
    field: 'parentId',
    message: 'parentId must be a top-level message of this channel',
  },
  [MessagesErrorCode.AttachmentTaken]: {
    field: 'attachmentIds',
    message: 'an attachment was attached to another message or deleted meanwhile',
  },
  [MessagesErrorCode.EmptyContent]: {
    field: 'content',
    message: 'content must not be empty or only whitespace',
  },
  [MessagesErrorCode.BadEmoji]: { field: 'emoji', message: 'emoji must be a single Unicode emoji' },
  [MessagesErrorCode.BadReadMarker]: {
    field: 'messageId',
    message: 'messageId must be a message of this channel',
  },
};

export class MessagesError extends AppError {
  constructor(readonly reason: MessagesErrorCode) {
    const detail = DETAIL[reason];
    super(HTTP_CODE[reason], MESSAGE[reason], detail ? [detail] : []);
  }
}
