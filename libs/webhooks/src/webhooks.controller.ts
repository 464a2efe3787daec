import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { ApiErrors, ApiIdParam, ApiPageQuery, parsePageQuery } from '@cariosan/core';
import { AuthenticatedUser, CurrentUser } from '@cariosan/users';
import {
  CreatedWebhookResponse,
  CreateWebhookDto,
  DeliveryAttemptResponse,
  SecretResponse,
  UpdateWebhookDto,
  WebhookResponse,
} from './dto/webhook.dto';
import { WebhooksService } from './webhooks.service';

const NOT_FOUND = 'no such webhook among the caller’s';
const WEBHOOK_ID = 'webhook id';

@ApiTags('webhooks')
@Controller('api/v1/webhooks')
export class WebhooksController {
  constructor(private readonly webhooks: WebhooksService) {}

  @Post()
  @ApiOperation({
    summary: 'Create an outgoing webhook',
    description:
      'Events of the chosen types (and channels) are POSTed to the URL, signed per the Standard Webhooks specification. The secret is shown only in this answer.',
  })
  @ApiCreatedResponse({ type: CreatedWebhookResponse })
  @ApiErrors({ 409: 'the caller already has 100 webhooks' })
  async create(
    @CurrentUser() me: AuthenticatedUser,
    @Body() dto: CreateWebhookDto,
  ): Promise<CreatedWebhookResponse> {
    return this.webhooks.create(me, dto);
  }

  @Get()
  @ApiOperation({ summary: 'The caller’s webhooks (without secrets), oldest first' })
  @ApiOkResponse({ type: [WebhookResponse] })
  async list(@CurrentUser() me: AuthenticatedUser): Promise<WebhookResponse[]> {
    return this.webhooks.list(me);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One of the caller’s webhooks (without its secret)' })
  @ApiIdParam('id', WEBHOOK_ID)
  @ApiOkResponse({ type: WebhookResponse })
  @ApiErrors({ 404: NOT_FOUND })
  async get(@CurrentUser() me: AuthenticatedUser, @Param('id') id: string): Promise<WebhookResponse> {
    return this.webhooks.get(me, id);
  }

  @Patch(':id')
  @ApiOperation({ summary: 'Change a webhook’s URL, events, channels, description, or enable/disable it' })
  @ApiIdParam('id', WEBHOOK_ID)
  @ApiOkResponse({ type: WebhookResponse })
  @ApiErrors({ 404: NOT_FOUND })
  async update(
    @CurrentUser() me: AuthenticatedUser,
    @Param('id') id: string,
    @Body() dto: UpdateWebhookDto,
  ): Promise<WebhookResponse> {
    return this.webhooks.update(me, id, dto);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a webhook and its pending deliveries' })
  @ApiIdParam('id', WEBHOOK_ID)
  @ApiNoContentResponse({ description: 'deleted' })
  @ApiErrors({ 404: NOT_FOUND })
  async delete(@CurrentUser() me: AuthenticatedUser, @Param('id') id: string): Promise<void> {
    await this.webhooks.delete(me, id);
  }

  @Post(':id/rotate-secret')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Rotate the signing secret',
    description: 'For 24 hours both secrets sign every delivery (two space-separated signatures).',
  })
  @ApiIdParam('id', WEBHOOK_ID)
  @ApiOkResponse({ type: SecretResponse })
  @ApiErrors({ 404: NOT_FOUND })
  async rotateSecret(@CurrentUser() me: AuthenticatedUser, @Param('id') id: string): Promise<SecretResponse> {
    return this.webhooks.rotateSecret(me, id);
  }

  @Get(':id/deliveries')
  @ApiOperation({ summary: 'The delivery log: one entry per attempt, newest first' })
  @ApiIdParam('id', WEBHOOK_ID)
  @ApiPageQuery(['before'], 'attempt id: older attempts')
  @ApiOkResponse({ type: [DeliveryAttemptResponse] })
  @ApiErrors({ 404: NOT_FOUND })
  async deliveries(
    @CurrentUser() me: AuthenticatedUser,
    @Param('id') id: string,
    @Query() query: Record<string, unknown>,
  ): Promise<DeliveryAttemptResponse[]> {
    return this.webhooks.attempts(me, id, parsePageQuery(query, ['before']));
  }

  @Post(':id/deliveries/:eventId/redeliver')
  @HttpCode(202)
  @ApiOperation({
    summary: 'Deliver an event again',
    description: 'Queued at once with a fresh retry schedule; the webhook-id is the event id, as before.',
  })
  @ApiIdParam('id', WEBHOOK_ID)
  @ApiIdParam('eventId', 'event id (webhook-id)')
  @ApiAcceptedResponse({ description: 'queued' })
  @ApiErrors({ 404: 'no such webhook, or it has no delivery of that event' })
  async redeliver(
    @CurrentUser() me: AuthenticatedUser,
    @Param('id') id: string,
    @Param('eventId') eventId: string,
  ): Promise<void> {
    await this.webhooks.redeliver(me, id, eventId);
  }
}
