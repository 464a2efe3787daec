import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional, type ApiPropertyOptions } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsBoolean,
  IsIn,
  IsString,
  registerDecorator,
  ValidateIf,
} from 'class-validator';
import {
  CodePointLength,
  IsSnowflake,
  NormalizeText,
  OptionalNotNull,
  WEBHOOK_EVENT_TYPES,
} from '@cariosan/core';

/**
 * An endpoint URL: http or https, a host, no credentials, at most 2048 characters. Where it
 * resolves to is checked at delivery time (see ssrf-guard.ts), not here.
 */
function IsWebhookUrl(): PropertyDecorator {
  return (target: object, propertyName: string | symbol) =>
    registerDecorator({
      name: 'isWebhookUrl',
      target: target.constructor,
      propertyName: propertyName as string,
      options: {
        message: '$property must be an http(s) URL of at most 2048 characters, without credentials',
      },
      validator: {
        validate: (value: unknown) => {
          if (typeof value !== 'string' || value.length > 2048) return false;
          try {
            const u = new URL(value);
            return ['http:', 'https:'].includes(u.protocol) && !!u.hostname && !u.username && !u.password;
          } catch {
            return false;
          }
        },
      },
    });
}

const EVENTS_DOC = {
  enum: WEBHOOK_EVENT_TYPES,
  isArray: true,
  minItems: 1,
  description: 'event types to receive',
};
const CHANNELS_DOC: ApiPropertyOptions = {
  type: [String],
  maxItems: 100,
  nullable: true,
  description:
    'only events of these channels (each one the caller is a member of); absent or null: every channel the owner is a member of',
};

/** 1-9 distinct event types a webhook may subscribe to. */
function EventTypes(): PropertyDecorator {
  return applyDecorators(
    IsArray(),
    ArrayMinSize(1),
    ArrayUnique(),
    IsIn(WEBHOOK_EVENT_TYPES, { each: true }),
  );
}

/** Up to 100 distinct channel ids; absent or null: no channel filter. */
function ChannelIdsFilter(): PropertyDecorator {
  return applyDecorators(
    ApiPropertyOptional(CHANNELS_DOC),
    ValidateIf((_o: object, v: unknown) => v !== undefined && v !== null),
    IsArray(),
    ArrayMaxSize(100),
    ArrayUnique(),
    IsSnowflake({ each: true, message: 'each of channelIds must be a channel id' }),
  );
}

export class CreateWebhookDto {
  @ApiProperty({ example: 'https://example.com/hooks/cariosan', maxLength: 2048 })
  @IsWebhookUrl()
  url: string;

  @ApiProperty(EVENTS_DOC)
  @EventTypes()
  events: string[];

  @ChannelIdsFilter()
  channelIds?: string[] | null;

  @ApiPropertyOptional({ maxLength: 500, default: '' })
  @OptionalNotNull()
  @NormalizeText({ trim: true })
  @IsString()
  @CodePointLength(0, 500)
  description?: string;
}

export class UpdateWebhookDto {
  @ApiPropertyOptional({ maxLength: 2048 })
  @OptionalNotNull()
  @IsWebhookUrl()
  url?: string;

  @ApiPropertyOptional(EVENTS_DOC)
  @OptionalNotNull()
  @EventTypes()
  events?: string[];

  @ChannelIdsFilter()
  channelIds?: string[] | null;

  @ApiPropertyOptional({ description: 'true re-enables a disabled webhook (and clears its reason)' })
  @OptionalNotNull()
  @IsBoolean()
  enabled?: boolean;

  @ApiPropertyOptional({ maxLength: 500 })
  @OptionalNotNull()
  @NormalizeText({ trim: true })
  @IsString()
  @CodePointLength(0, 500)
  description?: string;
}

export class WebhookResponse {
  @ApiProperty({ example: '123456789012345678' }) id: string;
  @ApiProperty() url: string;
  @ApiProperty({ enum: WEBHOOK_EVENT_TYPES, isArray: true }) events: string[];
  @ApiProperty({ type: [String], nullable: true }) channelIds: string[] | null;
  @ApiProperty() description: string;
  @ApiProperty() enabled: boolean;
  @ApiProperty({
    type: String,
    nullable: true,
    description: 'why the server disabled it (410 Gone, or failing longer than CARIOS_WEBHOOK_DISABLE_AFTER)',
  })
  disabledReason: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'start of the current run of failed attempts' })
  failingSince: string | null;
  @ApiProperty({ example: '2026-03-12T09:30:00.000Z' }) createdAt: string;
}

export class CreatedWebhookResponse extends WebhookResponse {
  @ApiProperty({ example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', description: 'shown only here' })
  secret: string;
}

export class SecretResponse {
  @ApiProperty({
    example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    description: 'the old one keeps signing for 24 h',
  })
  secret: string;
}

export class DeliveryAttemptResponse {
  @ApiProperty() id: string;
  @ApiProperty({ description: 'the event id, also the webhook-id header' }) eventId: string;
  @ApiProperty({ enum: WEBHOOK_EVENT_TYPES }) type: string;
  @ApiProperty({ description: '1 for the first attempt of this event to this endpoint' }) attempt: number;
  @ApiProperty({ enum: ['delivered', 'failed', 'refused', 'timeout', 'skipped'] }) status: string;
  @ApiProperty({ type: Number, nullable: true }) responseStatus: number | null;
  @ApiProperty({ type: String, nullable: true }) error: string | null;
  @ApiProperty() durationMs: number;
  @ApiProperty() createdAt: string;
}
