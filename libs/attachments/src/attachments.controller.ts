import { Body, Controller, Get, Param, Post } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { type AttachmentView, ApiErrors, ApiIdParam } from '@cariosan/core';
import { AuthenticatedUser, CurrentUser } from '@cariosan/users';
import { AttachmentResponse, CreateAttachmentDto, UploadSlotResponse } from './attachments.dto';
import { AttachmentsService } from './attachments.service';

@ApiTags('attachments')
@Controller('api/v1/attachments')
export class AttachmentsController {
  constructor(private readonly attachments: AttachmentsService) {}

  @Post()
  @ApiOperation({
    summary: 'An upload slot: a presigned PUT for the bytes',
    description:
      'Send the bytes with exactly upload.method, upload.url and upload.headers (Content-Length: size) straight to ' +
      'the object store, then post a message with attachmentIds: [id]. The signature binds the size and type.',
  })
  @ApiCreatedResponse({ type: UploadSlotResponse })
  @ApiErrors({
    400: 'validation_failed: filename, contentType or size',
    413: 'payload_too_large: size above CARIOS_MAX_UPLOAD_BYTES',
    503: 'unavailable: the database or object storage did not answer',
  })
  async create(
    @CurrentUser() me: AuthenticatedUser,
    @Body() dto: CreateAttachmentDto,
  ): Promise<UploadSlotResponse> {
    const slot = await this.attachments.create(me, dto);
    return { ...slot, upload: { ...slot.upload, expiresAt: slot.upload.expiresAt.toISOString() } };
  }

  @Get(':id')
  @ApiOperation({
    summary:
      'An attachment with a fresh download URL (members of its channel; its uploader before it is attached)',
  })
  @ApiIdParam('id', 'attachment id')
  @ApiOkResponse({ type: AttachmentResponse })
  @ApiErrors({
    403: 'the caller is not a member of the public channel the attachment was posted in',
    404: 'no such attachment, or one the caller may not see',
  })
  async get(@CurrentUser() me: AuthenticatedUser, @Param('id') id: string): Promise<AttachmentView> {
    return this.attachments.get(me, id);
  }
}
