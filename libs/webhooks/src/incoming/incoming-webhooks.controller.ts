import { Body, Controller, Delete, Get, HttpCode, Param, Post, Req, Res } from '@nestjs/common';
import {
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiTags,
} from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { ApiErrors, ApiIdParam, AppConfig, Public } from '@cariosan/core';
import { type Check, clientIp, RateLimiters } from '@cariosan/ratelimit';
import { AuthenticatedUser, CurrentUser } from '@cariosan/users';
import {
  CreatedIncomingWebhookResponse,
  CreateIncomingWebhookDto,
  IncomingPostDto,
  IncomingWebhookResponse,
} from '../dto/incoming-webhook.dto';
import { WebhooksError, WebhooksErrorCode } from '../webhooks.errors';
import { IncomingWebhooksService } from './incoming-webhooks.service';

const NOT_FOUND = 'no such channel, or a private one the caller is not a member of';

@ApiTags('incoming webhooks')
@ApiIdParam('id', 'channel id')
@Controller('api/v1/channels/:id/incoming-webhooks')
export class IncomingWebhooksController {
  constructor(private readonly hooks: IncomingWebhooksService) {}

  @Post()
  @ApiOperation({
    summary: 'Create an incoming webhook (members)',
    description:
      'A bot user named `name` joins the channel; `POST url` posts as it. The token is shown only here.',
  })
  @ApiCreatedResponse({ type: CreatedIncomingWebhookResponse })
  @ApiErrors({ 403: 'not a member, archived, or a direct channel', 404: NOT_FOUND })
  async create(
    @CurrentUser() me: AuthenticatedUser,
    @Param('id') channelId: string,
    @Body() dto: CreateIncomingWebhookDto,
    @Req() req: Request,
  ): Promise<CreatedIncomingWebhookResponse> {
    return this.hooks.create(me, channelId, dto.name, `${req.protocol}://${req.get('host') ?? 'localhost'}`);
  }

  @Get()
  @ApiOperation({ summary: 'The channel’s incoming webhooks (members; no tokens)' })
  @ApiOkResponse({ type: [IncomingWebhookResponse] })
  @ApiErrors({ 403: 'not a member', 404: NOT_FOUND })
  async list(
    @CurrentUser() me: AuthenticatedUser,
    @Param('id') channelId: string,
  ): Promise<IncomingWebhookResponse[]> {
    return this.hooks.list(me, channelId);
  }

  @Delete(':hookId')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete an incoming webhook (its creator, the channel owner or an admin)' })
  @ApiIdParam('hookId', 'incoming webhook id')
  @ApiNoContentResponse({
    description: 'deleted: its URL answers 404 from now on; its bot leaves the channel',
  })
  @ApiErrors({
    403: 'not its creator, the channel owner or an admin',
    404: 'no such incoming webhook in this channel',
  })
  async delete(
    @CurrentUser() me: AuthenticatedUser,
    @Param('id') channelId: string,
    @Param('hookId') hookId: string,
  ): Promise<void> {
    await this.hooks.delete(me, channelId, hookId);
  }
}

/** `POST /hooks/:id/:token`: no bearer token, the URL is the credential. */
@ApiTags('incoming webhooks')
@Public()
@Controller('hooks')
export class IncomingHookController {
  constructor(
    private readonly hooks: IncomingWebhooksService,
    private readonly config: AppConfig,
    private readonly limiters: RateLimiters,
  ) {}

  @Post(':id/:token')
  @ApiOperation({
    summary: 'Post a message through an incoming webhook',
    description:
      'Posts as the webhook’s bot user. Rate limited per client IP and per webhook (CARIOS_RATE_LIMIT_*), with the RateLimit-* headers.',
  })
  @ApiIdParam('id', 'incoming webhook id')
  @ApiParam({ name: 'token', description: 'the token shown at creation', schema: { type: 'string' } })
  @ApiCreatedResponse({ description: 'the message posted' })
  @ApiErrors({
    403: 'the channel is archived',
    404: 'no such webhook, or a wrong token',
    429: 'over the rate limit',
  })
  async post(
    @Param('id') id: string,
    @Param('token') token: string,
    @Body() dto: IncomingPostDto,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    await this.limit(res, { bucket: 'ip', key: clientIp(req) });
    const bot = await this.hooks.authenticate(id, token);
    if (!bot) throw new WebhooksError(WebhooksErrorCode.IncomingWebhookNotFound);
    await this.limit(res, { bucket: 'user', key: `hook:${id}` });
    const message = await this.hooks.post(bot, dto.content, dto.username);
    res.status(201).type('application/json').send(message.json);
  }

  /**
   * One count in a bucket (the client IP's anonymous one, then the webhook's own, with a user's
   * budget); over the limit: 429 with the RateLimit-* headers. /hooks is outside /api/v1, so the
   * global guard does not count it.
   */
  private async limit(res: Response, check: Check): Promise<void> {
    this.limiters.settle(res, await this.limiters.consume([check]));
  }
}
