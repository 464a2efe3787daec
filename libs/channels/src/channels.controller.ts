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
import { ApiErrors, ApiIdParam, ApiPageQuery, parsePageQuery } from '@cariosan/core';
import { AuthenticatedUser, CurrentUser } from '@cariosan/users';
import { ChannelsService } from './channels.service';
import {
  ChannelResponse,
  CreateChannelDto,
  CreateDmDto,
  MemberResponse,
  UpdateChannelDto,
} from './dto/channel.dto';

const NOT_FOUND = 'no such channel, or a private or direct one the caller is not a member of';
const NOT_MEMBER = 'the caller is not a member of this public channel';
const CHANNEL_ID = 'channel id';
const USER_PARAM = {
  name: 'userId',
  description: '`@me` or a user id',
  schema: { type: 'string' as const, pattern: '^(@me|[0-9]{1,19})$' },
};

@ApiTags('channels')
@Controller('api/v1/channels')
export class ChannelsController {
  constructor(private readonly channels: ChannelsService) {}

  @Post()
  @ApiOperation({ summary: 'Create a public or private channel' })
  @ApiCreatedResponse({ type: ChannelResponse, description: 'the caller is the owner and first member' })
  async create(
    @CurrentUser() me: AuthenticatedUser,
    @Body() dto: CreateChannelDto,
  ): Promise<ChannelResponse> {
    return this.channels.create(me, dto.name, dto.kind, dto.topic);
  }

  @Get('browse')
  @ApiOperation({ summary: 'Browse public channels, newest first' })
  @ApiPageQuery(['before'], 'channel id: only older channels')
  @ApiOkResponse({ type: [ChannelResponse], description: 'public, not archived channels, newest first' })
  async browse(@Query() query: Record<string, unknown>): Promise<ChannelResponse[]> {
    return this.channels.browse(parsePageQuery(query, ['before']));
  }

  @Get(':id')
  @ApiOperation({ summary: 'A channel (public ones to anyone, others to members)' })
  @ApiIdParam('id', CHANNEL_ID)
  @ApiOkResponse({ type: ChannelResponse })
  @ApiErrors({ 404: NOT_FOUND })
  async get(@CurrentUser() me: AuthenticatedUser, @Param('id') id: string): Promise<ChannelResponse> {
    return this.channels.get(me, id);
  }

  @Patch(':id')
  @ApiOperation({ summary: 'Rename a channel or change its topic (owner or admin)' })
  @ApiIdParam('id', CHANNEL_ID)
  @ApiOkResponse({ type: ChannelResponse })
  @ApiErrors({ 403: 'not the owner or a server admin, a direct channel, or archived', 404: NOT_FOUND })
  async update(
    @CurrentUser() me: AuthenticatedUser,
    @Param('id') id: string,
    @Body() dto: UpdateChannelDto,
  ): Promise<ChannelResponse> {
    return this.channels.update(me, id, dto);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Archive a channel (owner or admin); history stays readable' })
  @ApiIdParam('id', CHANNEL_ID)
  @ApiNoContentResponse({ description: 'archived (idempotent): history stays readable, posting answers 403' })
  @ApiErrors({ 403: 'not the owner or a server admin, or a direct channel', 404: NOT_FOUND })
  async archive(@CurrentUser() me: AuthenticatedUser, @Param('id') id: string): Promise<void> {
    await this.channels.archive(me, id);
  }

  @Get(':id/members')
  @ApiOperation({ summary: 'Members of a channel, ordered by user id (members only)' })
  @ApiIdParam('id', CHANNEL_ID)
  @ApiPageQuery(['after'], 'user id: members with larger ids')
  @ApiOkResponse({ type: [MemberResponse], description: 'ordered by user id' })
  @ApiErrors({ 403: NOT_MEMBER, 404: NOT_FOUND })
  async members(
    @CurrentUser() me: AuthenticatedUser,
    @Param('id') id: string,
    @Query() query: Record<string, unknown>,
  ): Promise<MemberResponse[]> {
    return this.channels.listMembers(me, id, parsePageQuery(query, ['after']));
  }

  @Put(':id/members/:userId')
  @HttpCode(204)
  @ApiOperation({ summary: 'Join a public channel (`@me`) or add someone (members)' })
  @ApiIdParam('id', CHANNEL_ID)
  @ApiParam(USER_PARAM)
  @ApiNoContentResponse({
    description: '`@me` joins a public channel; a member adds someone else (no-op if already a member)',
  })
  @ApiErrors({
    403: 'the caller is not a member (adding others), the channel is archived, or it is a direct channel',
    404: 'no such channel or user, or a private channel the caller is not a member of (joining uninvited)',
  })
  async addMember(
    @CurrentUser() me: AuthenticatedUser,
    @Param('id') id: string,
    @Param('userId') userId: string,
  ): Promise<void> {
    await this.channels.addMember(me, id, userId);
  }

  @Delete(':id/members/:userId')
  @HttpCode(204)
  @ApiOperation({ summary: 'Leave a channel (`@me`) or remove someone (owner or admin)' })
  @ApiIdParam('id', CHANNEL_ID)
  @ApiParam(USER_PARAM)
  @ApiNoContentResponse({ description: '`@me` leaves; the owner or a server admin removes someone else' })
  @ApiErrors({
    403: 'not the owner or a server admin (removing others), archived, or a direct channel',
    404: 'no such channel or user, or a private channel the caller is not a member of',
  })
  async removeMember(
    @CurrentUser() me: AuthenticatedUser,
    @Param('id') id: string,
    @Param('userId') userId: string,
  ): Promise<void> {
    await this.channels.removeMember(me, id, userId);
  }

  @Post(':id/typing')
  @HttpCode(204)
  @ApiOperation({ summary: 'Tell the channel’s members the caller is typing (TYPING_START)' })
  @ApiIdParam('id', CHANNEL_ID)
  @ApiNoContentResponse({ description: 'members get TYPING_START; nothing is stored' })
  @ApiErrors({ 403: `${NOT_MEMBER}, or it is archived`, 404: NOT_FOUND })
  async typing(@CurrentUser() me: AuthenticatedUser, @Param('id') id: string): Promise<void> {
    await this.channels.typing(me, id);
  }
}

@ApiTags('channels')
@Controller('api/v1/dms')
export class DmsController {
  constructor(private readonly channels: ChannelsService) {}

  @Post()
  @ApiOperation({
    summary: 'Open the direct channel of a set of users',
    description:
      'The same set of users always gives the same channel: 201 when this call created it, 200 after.',
  })
  @ApiErrors({ 400: 'validation_failed: userIds must be 1-9 existing user ids (field userIds)' })
  @ApiCreatedResponse({ type: ChannelResponse, description: 'the direct channel was created' })
  @ApiOkResponse({
    type: ChannelResponse,
    description: 'the direct channel of that set of users already existed',
  })
  async open(
    @CurrentUser() me: AuthenticatedUser,
    @Body() dto: CreateDmDto,
    @Res({ passthrough: true }) res: Response,
  ): Promise<ChannelResponse> {
    const { channel, created } = await this.channels.openDm(me, dto.userIds);
    res.status(created ? 201 : 200);
    return channel;
  }
}
