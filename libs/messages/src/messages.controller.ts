import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Put, Query, Res } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiForbiddenResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiParam,
  ApiQuery,
  ApiTags,
  ApiUnprocessableEntityResponse,
} from '@nestjs/swagger';
import type { Response } from 'express';
import { parsePageQuery } from '@cariosan/core';
import { MyChannelResponse } from '@cariosan/channels';
import { AuthenticatedUser, CurrentUser } from '@cariosan/users';
import { EditMessageDto, MessageResponse, PostMessageDto, ReadMarkerDto } from './dto/message.dto';
import { JsonText, MessagesService } from './messages.service';

/** Sends JSON text built by Postgres as it is: no parse and re-serialisation on the hot routes. */
function sendJson(res: Response, status: number, body: JsonText): void {
  res.status(status).type('application/json').send(body.json);
}

@ApiTags('messages')
@ApiBearerAuth()
@ApiNotFoundResponse({
  description: 'no such channel or message, or a private channel the caller is not a member of',
})
@ApiForbiddenResponse({ description: 'not a member of this public channel, or the channel is archived' })
@Controller('api/v1/channels/:id/messages')
export class MessagesController {
  constructor(private readonly messages: MessagesService) {}

  @Post()
  @ApiCreatedResponse({ type: MessageResponse })
  @ApiOkResponse({
    type: MessageResponse,
    description: 'a retry with a nonce already used: the stored message',
  })
  @ApiUnprocessableEntityResponse({
    description: 'idempotency_mismatch: the nonce was used for other content or parentId',
  })
  async post(
    @CurrentUser() me: AuthenticatedUser,
    @Param('id') id: string,
    @Body() dto: PostMessageDto,
    @Res() res: Response,
  ): Promise<void> {
    const posted = await this.messages.post(me, id, dto);
    sendJson(res, posted.created ? 201 : 200, posted);
  }

  @Get()
  @ApiQuery({ name: 'before', required: false, description: 'message id: older messages, newest first' })
  @ApiQuery({ name: 'after', required: false, description: 'message id: newer messages, oldest first' })
  @ApiQuery({ name: 'limit', required: false, description: '1-100, default 50' })
  @ApiOkResponse({ type: [MessageResponse] })
  async list(
    @CurrentUser() me: AuthenticatedUser,
    @Param('id') id: string,
    @Query() query: Record<string, unknown>,
    @Res() res: Response,
  ): Promise<void> {
    sendJson(res, 200, await this.messages.list(me, id, parsePageQuery(query, ['before', 'after'])));
  }

  @Get(':mid')
  @ApiOkResponse({ type: MessageResponse })
  async get(
    @CurrentUser() me: AuthenticatedUser,
    @Param('id') id: string,
    @Param('mid') mid: string,
  ): Promise<MessageResponse> {
    return this.messages.get(me, id, mid);
  }

  @Patch(':mid')
  @ApiOkResponse({ type: MessageResponse, description: 'author only' })
  async edit(
    @CurrentUser() me: AuthenticatedUser,
    @Param('id') id: string,
    @Param('mid') mid: string,
    @Body() dto: EditMessageDto,
  ): Promise<MessageResponse> {
    return this.messages.edit(me, id, mid, dto.content);
  }

  @Delete(':mid')
  @HttpCode(204)
  @ApiNoContentResponse({
    description: 'deleted for good (author, channel owner or server admin); a thread root takes its replies',
  })
  async delete(
    @CurrentUser() me: AuthenticatedUser,
    @Param('id') id: string,
    @Param('mid') mid: string,
  ): Promise<void> {
    await this.messages.delete(me, id, mid);
  }

  @Get(':mid/replies')
  @ApiQuery({ name: 'after', required: false, description: 'message id: later replies' })
  @ApiQuery({ name: 'limit', required: false, description: '1-100, default 50' })
  @ApiOkResponse({ type: [MessageResponse], description: 'thread replies, oldest first' })
  async replies(
    @CurrentUser() me: AuthenticatedUser,
    @Param('id') id: string,
    @Param('mid') mid: string,
    @Query() query: Record<string, unknown>,
    @Res() res: Response,
  ): Promise<void> {
    sendJson(res, 200, await this.messages.replies(me, id, mid, parsePageQuery(query, ['after'])));
  }

  @Put(':mid/reactions/:emoji/@me')
  @HttpCode(204)
  @ApiParam({ name: 'emoji', description: 'one Unicode emoji, URL-encoded' })
  @ApiNoContentResponse({ description: 'reacted (idempotent)' })
  async react(
    @CurrentUser() me: AuthenticatedUser,
    @Param('id') id: string,
    @Param('mid') mid: string,
    @Param('emoji') emoji: string,
  ): Promise<void> {
    await this.messages.react(me, id, mid, emoji);
  }

  @Delete(':mid/reactions/:emoji/@me')
  @HttpCode(204)
  @ApiParam({ name: 'emoji', description: 'one Unicode emoji, URL-encoded' })
  @ApiNoContentResponse({ description: 'reaction removed (idempotent)' })
  async unreact(
    @CurrentUser() me: AuthenticatedUser,
    @Param('id') id: string,
    @Param('mid') mid: string,
    @Param('emoji') emoji: string,
  ): Promise<void> {
    await this.messages.unreact(me, id, mid, emoji);
  }
}

/** The caller's channels with their unread state; lives here because it counts messages. */
@ApiTags('channels')
@ApiBearerAuth()
@Controller('api/v1/channels')
export class ReadStateController {
  constructor(private readonly messages: MessagesService) {}

  @Get()
  @ApiOkResponse({
    type: [MyChannelResponse],
    description: 'the channels the caller is a member of, archived ones included',
  })
  async mine(@CurrentUser() me: AuthenticatedUser): Promise<MyChannelResponse[]> {
    return this.messages.myChannels(me);
  }

  @Put(':id/read')
  @HttpCode(204)
  @ApiNoContentResponse({ description: 'read marker set; drives unreadCount' })
  async markRead(
    @CurrentUser() me: AuthenticatedUser,
    @Param('id') id: string,
    @Body() dto: ReadMarkerDto,
  ): Promise<void> {
    await this.messages.markRead(me, id, dto.messageId);
  }
}
