import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, Max, Min } from 'class-validator';
import { OptionalNotNull } from '@cariosan/core';
import type { InviteView } from '../invites';
import { DEFAULT_INVITE_TTL_SECONDS, MAX_INVITE_TTL_SECONDS, MIN_INVITE_TTL_SECONDS } from '../invites';

export class CreateInviteDto {
  @ApiPropertyOptional({
    description: 'seconds until the code stops working',
    minimum: MIN_INVITE_TTL_SECONDS,
    maximum: MAX_INVITE_TTL_SECONDS,
    default: DEFAULT_INVITE_TTL_SECONDS,
  })
  @OptionalNotNull()
  @IsInt()
  @Min(MIN_INVITE_TTL_SECONDS)
  @Max(MAX_INVITE_TTL_SECONDS)
  expiresInSeconds?: number;
}

export class InviteResponse implements InviteView {
  @ApiProperty({ example: '123456789012345678' }) id: string;
  @ApiProperty({ type: String, nullable: true, description: 'null when created with the admin command' })
  createdBy: string | null;
  @ApiProperty({ example: '2026-03-12T09:30:00.000Z' }) createdAt: string;
  @ApiProperty({ example: '2026-03-19T09:30:00.000Z' }) expiresAt: string;
  @ApiProperty({ type: String, nullable: true }) usedAt: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'the account registered with it' }) usedBy:
    string | null;
}

export class CreatedInviteResponse extends InviteResponse {
  @ApiProperty({ example: 'inv_3q2x...', description: 'shown only in this answer; only its hash is stored' })
  code: string;
}
