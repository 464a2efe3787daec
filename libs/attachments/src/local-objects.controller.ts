import { Controller, Get, Inject, Param, Put, Query, Req, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { pipeline } from 'node:stream/promises';
import {
  ApiErrors,
  AppError,
  type ErrorCode,
  NotFoundError,
  OBJECT_STORAGE,
  type ObjectStoragePort,
  Public,
} from '@cariosan/core';
import { LocalObjectError, LocalStorage } from './storage/local-storage';

const CODES: Record<LocalObjectError['status'], ErrorCode> = {
  400: 'validation_failed',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  413: 'payload_too_large',
};

function toAppError(err: unknown): unknown {
  return err instanceof LocalObjectError ? new AppError(CODES[err.status], err.message) : err;
}

/**
 * The local-disk adapter's object URLs (no bucket configured): signed PUT uploads and GET
 * downloads, outside /api/v1 because the signature in the URL is the credential, as with S3.
 */
const NAME_PARAM = {
  name: 'name',
  description: 'the object key after attachments/ (32 hex digits)',
  schema: { type: 'string' as const, pattern: '^[0-9a-f]{32}$' },
};

@Public()
@ApiTags('attachments')
@Controller('uploads/attachments')
export class LocalObjectsController {
  constructor(@Inject(OBJECT_STORAGE) private readonly storage: ObjectStoragePort) {}

  /** The adapter, when it is the local one and the name can be an object's; else 404. */
  private local(name: string): LocalStorage {
    if (!(this.storage instanceof LocalStorage) || !/^[0-9a-f]{32}$/.test(name))
      throw new NotFoundError('object');
    return this.storage;
  }

  @Put(':name')
  @ApiOperation({
    summary: 'Local-disk adapter only (no bucket configured): the upload URL of a slot',
    description:
      'Take the whole URL from POST /api/v1/attachments; its query (expires, size, type, signature) is the ' +
      'credential. The raw bytes, with the signed Content-Type and Content-Length.',
  })
  @ApiParam(NAME_PARAM)
  @ApiOkResponse({ description: 'stored' })
  @ApiErrors({
    400: 'the body is shorter than the signed size, or no Content-Length',
    403: 'bad or expired signature, or Content-Type / Content-Length other than signed',
    404: 'S3 is configured: uploads go to the bucket',
    409: 'this upload was already made',
    413: 'the body is longer than the signed size',
  })
  async upload(
    @Param('name') name: string,
    @Query() query: Record<string, unknown>,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    try {
      await this.local(name).receive(
        `attachments/${name}`,
        query,
        { contentType: req.headers['content-type'], contentLength: req.headers['content-length'] },
        req,
      );
    } catch (err) {
      // The rest of a refused body is not read: close the connection once answered.
      if (!req.complete) res.setHeader('Connection', 'close');
      throw toAppError(err);
    }
    res.status(200).end();
  }

  @Get(':name')
  @ApiOperation({
    summary: 'Local-disk adapter only: an attachment download URL (the url of an attachment)',
    description:
      'Its query (expires, disposition, type, signature) is the credential; served with that type and disposition.',
  })
  @ApiParam(NAME_PARAM)
  @ApiProduces('application/octet-stream')
  @ApiOkResponse({ description: 'the bytes', schema: { type: 'string', format: 'binary' } })
  @ApiErrors({ 403: 'bad or expired signature', 404: 'no such object (deleted), or S3 is configured' })
  async download(
    @Param('name') name: string,
    @Query() query: Record<string, unknown>,
    @Res() res: Response,
  ): Promise<void> {
    let file: Awaited<ReturnType<LocalStorage['open']>>;
    try {
      file = await this.local(name).open(`attachments/${name}`, query);
    } catch (err) {
      throw toAppError(err);
    }
    res.status(200);
    res.setHeader('Content-Type', file.contentType);
    res.setHeader('Content-Length', String(file.size));
    res.setHeader('Content-Disposition', file.disposition);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Content-Security-Policy', "sandbox; default-src 'none'");
    res.setHeader('Cache-Control', 'private, max-age=300');
    await pipeline(file.stream, res).catch(() => res.destroy());
  }
}
