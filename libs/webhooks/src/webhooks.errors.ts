import { AppError, ErrorCode } from '@cariosan/core';

export enum WebhooksErrorCode {
  WebhookNotFound = 'webhook_not_found',
  DeliveryNotFound = 'delivery_not_found',
  TooManyWebhooks = 'too_many_webhooks',
  IncomingWebhookNotFound = 'incoming_webhook_not_found',
  CannotDeleteIncoming = 'cannot_delete_incoming_webhook',
}

const HTTP_CODE: Record<WebhooksErrorCode, ErrorCode> = {
  [WebhooksErrorCode.WebhookNotFound]: 'not_found',
  [WebhooksErrorCode.DeliveryNotFound]: 'not_found',
  [WebhooksErrorCode.TooManyWebhooks]: 'conflict',
  [WebhooksErrorCode.IncomingWebhookNotFound]: 'not_found',
  [WebhooksErrorCode.CannotDeleteIncoming]: 'forbidden',
};

const MESSAGE: Record<WebhooksErrorCode, string> = {
  [WebhooksErrorCode.WebhookNotFound]: 'webhook not found',
  [WebhooksErrorCode.DeliveryNotFound]: 'this webhook has no delivery of that event',
  [WebhooksErrorCode.TooManyWebhooks]: 'a user has at most 100 webhooks',
  [WebhooksErrorCode.IncomingWebhookNotFound]: 'incoming webhook not found',
  [WebhooksErrorCode.CannotDeleteIncoming]:
    'only its creator, the channel owner or a server admin may delete an incoming webhook',
};

export class WebhooksError extends AppError {
  constructor(
    readonly reason: WebhooksErrorCode,
    details: unknown[] = [],
  ) {
    super(HTTP_CODE[reason], MESSAGE[reason], details);
  }
}
