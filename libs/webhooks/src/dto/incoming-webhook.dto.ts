import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsString } from 'class-validator';
import { CodePointLength, NormalizeText, OptionalNotNull } from '@cariosan/core';

export class CreateIncomingWebhookDto {
  @ApiProperty({ minLength: 1, maxLength: 80, description: 'the bot’s display name; NFC, trimmed' })
  @NormalizeText({ trim: true })
  @IsString()
  @CodePointLength(1, 80)
  name: string;
}

export class IncomingWebhookResponse {
  @ApiProperty({ example: '123456789012345678' }) id: string;
  @ApiProperty() channelId: string;
  @ApiProperty() name: string;
  @ApiProperty({ description: 'the bot user its messages are posted as' }) botUserId: string;
  @ApiProperty({ type: String, nullable: true }) createdBy: string | null;
  @ApiProperty() createdAt: string;
}

export class CreatedIncomingWebhookResponse extends IncomingWebhookResponse {
  @ApiProperty({ description: 'shown only here; stored as its SHA-256' }) token: string;
  @ApiProperty({
    example: 'https://chat.example.com/hooks/123456789012345678/3q2-7w...',
    description: 'POST here',
  })
  url: string;
}

export class IncomingPostDto {
  @ApiProperty({ minLength: 1, maxLength: 4000, description: 'NFC, 1-4000 code points' })
  @NormalizeText()
  @IsString()
  @CodePointLength(1, 4000)
  content: string;

  @ApiPropertyOptional({
    minLength: 1,
    maxLength: 80,
    description: 'sets the bot’s display name (it shows on its messages from then on)',
  })
  @OptionalNotNull()
  @NormalizeText({ trim: true })
  @IsString()
  @CodePointLength(1, 80)
  username?: string;
}
