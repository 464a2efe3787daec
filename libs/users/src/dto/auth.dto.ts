import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { CodePointLength, NormalizeText, OptionalNotNull, USERNAME_PATTERN } from '@cariosan/core';
import { Transform } from 'class-transformer';
import { IsString, Matches } from 'class-validator';

/** ASCII only: `toLowerCase()` would turn look-alikes such as the Kelvin sign (U+212A) into a plain `k`. */
const lowerCase = Transform(({ value }: { value: unknown }) =>
  typeof value === 'string' ? value.replace(/[A-Z]+/g, (c) => c.toLowerCase()) : value,
);

export class RegisterDto {
  @ApiProperty({ example: 'ada', description: '2-32 characters of a-z, 0-9, _ . -; stored lower-case' })
  @lowerCase
  @IsString()
  @Matches(USERNAME_PATTERN, { message: 'username must be 2-32 characters of a-z, 0-9, _, . or -' })
  username: string;

  @ApiProperty({ minLength: 8, maxLength: 256 })
  @IsString()
  @CodePointLength(8, 256)
  password: string;

  @ApiPropertyOptional({ maxLength: 64 })
  @OptionalNotNull()
  @NormalizeText({ trim: true })
  @IsString()
  @CodePointLength(1, 64)
  displayName?: string;

  @ApiPropertyOptional({
    example: 'inv_3q2x...',
    description:
      'required when the server runs with CARIOS_REGISTRATION=invite: a single-use code from an administrator',
  })
  @OptionalNotNull()
  @IsString()
  @CodePointLength(1, 128)
  inviteCode?: string;
}

export class LoginDto {
  @ApiProperty()
  @lowerCase
  @IsString()
  @CodePointLength(1, 64)
  username: string;

  @ApiProperty()
  @IsString()
  @CodePointLength(1, 256)
  password: string;
}

export class UpdateMeDto {
  @ApiPropertyOptional({ maxLength: 64 })
  @OptionalNotNull()
  @NormalizeText({ trim: true })
  @IsString()
  @CodePointLength(1, 64)
  displayName?: string;
}
