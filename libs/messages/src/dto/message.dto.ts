import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsArray, IsString } from 'class-validator';
import { CodePointLength, IsSnowflake, NormalizeText, OptionalNotNull } from '@cariosan/core';
import type { MessageView } from '@cariosan/core';
import { AttachmentResponse } from '@cariosan/attachments';

export class PostMessageDto {
  @ApiProperty({
    minLength: 0,
    maxLength: 4000,
    description: 'NFC-normalised; 1-4000 code points, not only whitespace (may be empty with attachments)',
  })
  @NormalizeText()
  @IsString()
  @CodePointLength(0, 4000)
  content: string;

  @ApiPropertyOptional({
    minLength: 1,
    maxLength: 64,
    description:
      'idempotency key, unique per author and channel: a retry with it answers 200 and the same message',
  })
  @OptionalNotNull()
  @IsString()
  @CodePointLength(1, 64)
  nonce?: string;

  @ApiPropertyOptional({ description: 'thread root: a top-level message of the same channel' })
  @OptionalNotNull()
  @IsString()
  @IsSnowflake({ message: 'parentId must be a message id' })
  parentId?: string;

  @ApiPropertyOptional({
    type: [String],
    maxItems: 10,
    description:
      'uploads of the caller (POST /api/v1/attachments) not attached yet; each is checked in the object store ' +
      '(size, type) before the message is written. With attachments, content may be empty.',
  })
  @OptionalNotNull()
  @IsArray()
  attachmentIds?: unknown[];
}

export class EditMessageDto {
  @ApiProperty({ minLength: 1, maxLength: 4000 })
  @NormalizeText()
  @IsString()
  @CodePointLength(0, 4000)
  content: string;
}

export class ReadMarkerDto {
  @ApiProperty({ description: 'the newest message the caller has read' })
  @IsString()
  @IsSnowflake({ message: 'messageId must be a message id' })
  messageId: string;
}

export class AuthorResponse {
  @ApiProperty() id: string;
  @ApiProperty() username: string;
  @ApiProperty() displayName: string;
}

export class ReactionResponse {
  @ApiProperty({ example: '👍' }) emoji: string;
  @ApiProperty() count: number;
  @ApiProperty({ description: 'whether the caller reacted with this emoji' }) me: boolean;
}

export class MessageResponse implements MessageView {
  @ApiProperty() id: string;
  @ApiProperty() channelId: string;
  @ApiProperty({ type: AuthorResponse }) author: AuthorResponse;
  @ApiProperty() content: string;
  @ApiProperty({ type: String, nullable: true }) nonce: string | null;
  @ApiProperty({ type: String, nullable: true }) parentId: string | null;
  @ApiProperty({ type: [AttachmentResponse] }) attachments: AttachmentResponse[];
  @ApiProperty({ type: [String], description: 'ids of the channel members mentioned with @username' })
  mentions: string[];
  @ApiProperty({ type: [ReactionResponse] }) reactions: ReactionResponse[];
  @ApiProperty() createdAt: string;
  @ApiProperty({ type: String, nullable: true }) editedAt: string | null;
}
