import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsIn, IsString } from 'class-validator';
import { CodePointLength, IsSnowflake, NormalizeText, OptionalNotNull } from '@cariosan/core';
import type { ChannelKind, ChannelView, UserView } from '@cariosan/core';

export class CreateChannelDto {
  @ApiProperty({ minLength: 1, maxLength: 80, description: 'NFC-normalised and trimmed; 1-80 code points' })
  @NormalizeText({ trim: true })
  @IsString()
  @CodePointLength(1, 80)
  name: string;

  @ApiProperty({ enum: ['public', 'private'] })
  @IsIn(['public', 'private'])
  kind: 'public' | 'private';

  @ApiPropertyOptional({ maxLength: 250, default: '' })
  @OptionalNotNull()
  @NormalizeText({ trim: true })
  @IsString()
  @CodePointLength(0, 250)
  topic?: string;
}

export class UpdateChannelDto {
  @ApiPropertyOptional({ minLength: 1, maxLength: 80 })
  @OptionalNotNull()
  @NormalizeText({ trim: true })
  @IsString()
  @CodePointLength(1, 80)
  name?: string;

  @ApiPropertyOptional({ maxLength: 250 })
  @OptionalNotNull()
  @NormalizeText({ trim: true })
  @IsString()
  @CodePointLength(0, 250)
  topic?: string;
}

export class CreateDmDto {
  @ApiProperty({
    type: [String],
    minItems: 1,
    maxItems: 9,
    description:
      'The other members (the caller is always included); the same set always gives the same channel',
  })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(9)
  @IsString({ each: true })
  @IsSnowflake({ each: true, message: 'each of userIds must be a user id' })
  userIds: string[];
}

export class ChannelResponse implements ChannelView {
  @ApiProperty({ example: '123456789012345678' }) id: string;
  @ApiProperty({ example: 'general' }) name: string;
  @ApiProperty({ enum: ['public', 'private', 'dm'] }) kind: ChannelKind;
  @ApiProperty({ example: '' }) topic: string;
  @ApiProperty({ type: String, nullable: true, description: 'null for direct channels' }) ownerId:
    string | null;
  @ApiProperty() archived: boolean;
  @ApiProperty({ example: '2026-03-12T09:30:00.000Z' }) createdAt: string;
}

export class MyChannelResponse extends ChannelResponse {
  @ApiProperty({ description: 'messages newer than the read marker, not counting the caller’s own' })
  unreadCount: number;
  @ApiProperty({ type: String, nullable: true }) lastMessageId: string | null;
}

export class MemberUserResponse implements UserView {
  @ApiProperty() id: string;
  @ApiProperty() username: string;
  @ApiProperty() displayName: string;
  @ApiProperty() isAdmin: boolean;
  @ApiProperty() isBot: boolean;
  @ApiProperty() createdAt: string;
}

export class MemberResponse {
  @ApiProperty({ type: MemberUserResponse }) user: MemberUserResponse;
  @ApiProperty({ enum: ['owner', 'member'] }) role: 'owner' | 'member';
  @ApiProperty() joinedAt: string;
}
