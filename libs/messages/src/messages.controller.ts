import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Put, Query, Res } from '@nestjs/common';
import {
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiTags,
} from '@nestjs/swagger';
import type { Response } from 'express';
import { ApiErrors, ApiIdParam, ApiPageQuery, parsePageQuery, RateLimit } from '@cariosan/core';
import { MyChannelResponse } from '@cariosan/channels';
import { AuthenticatedUser, CurrentUser } from '@cariosan/users';
import { EditMessageDto, MessageResponse, PostMessageDto, ReadMarkerDto } from './dto/message.dto';
import { JsonText, MessagesService } from './messages.service';

/** Sends JSON text built by Postgres as it is: no parse and re-serialisation on the hot routes. */
function sendJson(res: Response, status: number, body: JsonText): void {
  res.status(status).type('application/json').send(body.json);
}

const NOT_FOUND = 'no such channel or message, or a private or direct channel the caller is not a member of';
const NOT_MEMBER = 'the caller is not a member of this public channel';
const ARCHIVED = 'the channel is archived';
const EMOJI_PARAM = {
  name: 'emoji',
  description: 'exactly one emoji, URL-encoded (%F0%9F%91%8D for 👍); anything else is a 400',
  schema: { type: 'string' as const },
};

@ApiTags('messages')
@ApiIdParam('id', 'channel id')
@Controller('api/v1/channels/:id/messages')
export class MessagesController {
  constructor(private readonly messages: MessagesService) {}

  @Post()
  @RateLimit('post')
  @ApiOperation({
    summary: 'Post a message (members)',
    description:
      'With a nonce, retries are safe: a repeat with the same nonce, content and parentId answers 200 and ' +
      'the stored message, also when concurrent retries reach different replicas.',
  })
  @ApiCreatedResponse({ type: MessageResponse })
  @ApiOkResponse({
    type: MessageResponse,
    description: 'a retry with a nonce already used: the stored message',
  })
  @ApiErrors({
    400: 'validation_failed: content, nonce, parentId (a top-level message of this channel) or attachmentIds',
    403: `${NOT_MEMBER}, or ${ARCHIVED}`,
    404: NOT_FOUND,
    422: 'idempotency_mismatch: the nonce was used for other content or parentId',
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
  @ApiOperation({
    summary: 'History: newest first, or oldest first after a cursor (members)',
    description: 'The whole timeline, thread replies included. Give before or after, not both.',
  })
  @ApiPageQuery(
    ['before', 'after'],
    'message id: older messages, newest first',
    'message id: newer messages, oldest first',
  )
  @ApiOkResponse({ type: [MessageResponse] })
  @ApiErrors({ 403: NOT_MEMBER, 404: NOT_FOUND })
  async list(
    @CurrentUser() me: AuthenticatedUser,
    @Param('id') id: string,
    @Query() query: Record<string, unknown>,
    @Res() res: Response,
  ): Promise<void> {
    sendJson(res, 200, await this.messages.list(me, id, parsePageQuery(query, ['before', 'after'])));
  }

  @Get(':mid')
  @ApiOperation({ summary: 'One message (members)' })
  @ApiIdParam('mid', 'message id')
  @ApiOkResponse({ type: MessageResponse })
  @ApiErrors({ 403: NOT_MEMBER, 404: NOT_FOUND })
  async get(
    @CurrentUser() me: AuthenticatedUser,
    @Param('id') id: string,
    @Param('mid') mid: string,
  ): Promise<MessageResponse> {
    return this.messages.get(me, id, mid);
  }

  @Patch(':mid')
  @ApiOperation({ summary: 'Edit a message (its author)' })
  @ApiIdParam('mid', 'message id')
  @ApiOkResponse({ type: MessageResponse, description: 'author only' })
  @ApiErrors({ 403: `not the author, ${NOT_MEMBER}, or ${ARCHIVED}`, 404: NOT_FOUND })
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
  @ApiOperation({ summary: 'Delete a message (author, channel owner or admin)' })
  @ApiIdParam('mid', 'message id')
  @ApiErrors({
    403: `not the author, the channel owner or an admin, ${NOT_MEMBER}, or ${ARCHIVED}`,
    404: NOT_FOUND,
  })
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
  @ApiOperation({ summary: 'A thread: the replies to a message, oldest first (members)' })
  @ApiIdParam('mid', 'message id of the thread root')
  @ApiPageQuery(['after'], 'message id: later replies')
  @ApiOkResponse({ type: [MessageResponse], description: 'thread replies, oldest first' })
  @ApiErrors({ 403: NOT_MEMBER, 404: NOT_FOUND })
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
  @ApiOperation({ summary: 'React to a message with an emoji (members)' })
  @ApiIdParam('mid', 'message id')
  @ApiParam(EMOJI_PARAM)
  @ApiNoContentResponse({ description: 'reacted (idempotent)' })
  @ApiErrors({
    400: 'the emoji is not exactly one emoji (field emoji)',
    403: `${NOT_MEMBER}, or ${ARCHIVED}`,
    404: NOT_FOUND,
  })
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
  @ApiOperation({ summary: 'Remove the caller’s reaction (members)' })
  @ApiIdParam('mid', 'message id')
  @ApiParam(EMOJI_PARAM)
  @ApiNoContentResponse({ description: 'reaction removed (idempotent)' })
  @ApiErrors({
    400: 'the emoji is not exactly one emoji (field emoji)',
    403: `${NOT_MEMBER}, or ${ARCHIVED}`,
    404: NOT_FOUND,
  })
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
@Controller('api/v1/channels')
export class ReadStateController {
  constructor(private readonly messages: MessagesService) {}

  @Get()
  @ApiOperation({ summary: 'The caller’s channels with unreadCount and lastMessageId' })
  @ApiOkResponse({
    type: [MyChannelResponse],
    description: 'the channels the caller is a member of, archived ones included',
  })
  async mine(@CurrentUser() me: AuthenticatedUser): Promise<MyChannelResponse[]> {
    return this.messages.myChannels(me);
  }

  @Put(':id/read')
  @HttpCode(204)
  @ApiOperation({ summary: 'Set the caller’s read marker (may move backwards: mark unread)' })
  @ApiIdParam('id', 'channel id')
  @ApiNoContentResponse({ description: 'read marker set; drives unreadCount' })
  @ApiErrors({
    400: 'messageId is not a message of this channel (field messageId)',
    403: NOT_MEMBER,
    404: NOT_FOUND,
  })
  async markRead(
    @CurrentUser() me: AuthenticatedUser,
    @Param('id') id: string,
    @Body() dto: ReadMarkerDto,
  ): Promise<void> {
    await this.messages.markRead(me, id, dto.messageId);
  }
}
