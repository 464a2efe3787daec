import { ApiProperty } from '@nestjs/swagger';
import type { UserView } from '@cariosan/core';

export class UserResponse implements UserView {
  @ApiProperty({ example: '123456789012345678' }) id: string;
  @ApiProperty({ example: 'ada' }) username: string;
  @ApiProperty({ example: 'Ada Lovelace' }) displayName: string;
  @ApiProperty() isAdmin: boolean;
  @ApiProperty() isBot: boolean;
  @ApiProperty({ example: '2026-03-12T09:30:00.000Z' }) createdAt: string;
}

export class AuthResponse {
  @ApiProperty({ type: UserResponse }) user: UserResponse;
  @ApiProperty({ description: 'Bearer token; send as Authorization: Bearer <token>' }) token: string;
}
