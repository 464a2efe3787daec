import { ApiProperty } from '@nestjs/swagger';
import { IsInt, IsString, Matches, Max, Min } from 'class-validator';
import { type AttachmentView, CodePointLength, NormalizeText } from '@cariosan/core';
import { CONTENT_TYPE_PATTERN } from './filenames';

export class CreateAttachmentDto {
  @ApiProperty({
    minLength: 1,
    maxLength: 255,
    description: 'the file name shown to users; kept as metadata only (sanitised), never the object key',
  })
  @NormalizeText()
  @IsString()
  @CodePointLength(1, 255)
  filename: string;

  @ApiProperty({
    example: 'image/png',
    maxLength: 255,
    description: 'the Content-Type the upload will carry',
  })
  @IsString()
  @Matches(CONTENT_TYPE_PATTERN, { message: 'contentType must be a media type such as image/png' })
  contentType: string;

  @ApiProperty({ minimum: 0, description: 'bytes; above CARIOS_MAX_UPLOAD_BYTES: 413' })
  @IsInt()
  @Min(0)
  @Max(Number.MAX_SAFE_INTEGER)
  size: number;
}

export class PresignedUploadResponse {
  @ApiProperty({
    description: 'where to send the bytes (the object store, or the server when no bucket is configured)',
  })
  url: string;
  @ApiProperty({ enum: ['PUT'] }) method: 'PUT';
  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'string' },
    example: { 'Content-Type': 'image/png' },
    description: 'headers to send as they are; Content-Length must be the declared size',
  })
  headers: Record<string, string>;
  @ApiProperty({ description: 'the URL is refused after this time (at most 15 minutes)' }) expiresAt: string;
}

export class UploadSlotResponse {
  @ApiProperty() id: string;
  @ApiProperty({ description: 'sanitised' }) filename: string;
  @ApiProperty() contentType: string;
  @ApiProperty() size: number;
  @ApiProperty({ type: PresignedUploadResponse }) upload: PresignedUploadResponse;
}

export class AttachmentResponse implements AttachmentView {
  @ApiProperty() id: string;
  @ApiProperty({ description: 'sanitised' }) filename: string;
  @ApiProperty() contentType: string;
  @ApiProperty() size: number;
  @ApiProperty({
    description:
      'a short-lived presigned GET made when the message was read or dispatched (Content-Disposition: attachment ' +
      'for anything but passive media)',
  })
  url: string;
}
