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
} from '@nestjs/swagger';
import type { Response } from 'express';
import { parsePageQuery } from '@cariosan/core';
import { AuthenticatedUser, CurrentUser } from '@cariosan/users';
import { ChannelsService } from './channels.service';
import {
  ChannelResponse,
  CreateChannelDto,
  CreateDmDto,
  MemberResponse,
  UpdateChannelDto,
} from './dto/channel.dto';

const NOT_FOUND = 'no such channel, or a private one the caller is not a member of';

@ApiTags('channels')
@ApiBearerAuth()
@Controller('api/v1/channels')
export class ChannelsController {
  constructor(private readonly channels: ChannelsService) {}

  @Post()
  @ApiCreatedResponse({ type: ChannelResponse, description: 'the caller is the owner and first member' })
  async create(
    @CurrentUser() me: AuthenticatedUser,
    @Body() dto: CreateChannelDto,
  ): Promise<ChannelResponse> {
    return this.channels.create(me, dto.name, dto.kind, dto.topic);
  }

  @Get('browse')
  @ApiQuery({ name: 'before', required: false, description: 'channel id: only older channels' })
  @ApiQuery({ name: 'limit', required: false, description: '1-100, default 50' })
  @ApiOkResponse({ type: [ChannelResponse], description: 'public, not archived channels, newest first' })
  async browse(@Query() query: Record<string, unknown>): Promise<ChannelResponse[]> {
    return this.channels.browse(parsePageQuery(query, ['before']));
  }

  @Get(':id')
  @ApiOkResponse({ type: ChannelResponse })
  @ApiNotFoundResponse({ description: NOT_FOUND })
  async get(@CurrentUser() me: AuthenticatedUser, @Param('id') id: string): Promise<ChannelResponse> {
    return this.channels.get(me, id);
  }

  @Patch(':id')
  @ApiOkResponse({ type: ChannelResponse })
  @ApiForbiddenResponse({ description: 'not the owner or a server admin, a direct channel, or archived' })
  @ApiNotFoundResponse({ description: NOT_FOUND })
  async update(
    @CurrentUser() me: AuthenticatedUser,
    @Param('id') id: string,
    @Body() dto: UpdateChannelDto,
  ): Promise<ChannelResponse> {
    return this.channels.update(me, id, dto);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiNoContentResponse({ description: 'archived: history stays readable, posting answers 403' })
  @ApiForbiddenResponse({ description: 'not the owner or a server admin, or a direct channel' })
  async archive(@CurrentUser() me: AuthenticatedUser, @Param('id') id: string): Promise<void> {
    await this.channels.archive(me, id);
  }

  @Get(':id/members')
  @ApiQuery({ name: 'after', required: false, description: 'user id: members with larger ids' })
  @ApiQuery({ name: 'limit', required: false, description: '1-100, default 50' })
  @ApiOkResponse({ type: [MemberResponse], description: 'ordered by user id' })
  async members(
    @CurrentUser() me: AuthenticatedUser,
    @Param('id') id: string,
    @Query() query: Record<string, unknown>,
  ): Promise<MemberResponse[]> {
    return this.channels.listMembers(me, id, parsePageQuery(query, ['after']));
  }

  @Put(':id/members/:userId')
  @HttpCode(204)
  @ApiParam({ name: 'userId', description: '`@me` or a user id' })
  @ApiNoContentResponse({ description: '`@me` joins a public channel; a member adds someone else' })
  async addMember(
    @CurrentUser() me: AuthenticatedUser,
    @Param('id') id: string,
    @Param('userId') userId: string,
  ): Promise<void> {
    await this.channels.addMember(me, id, userId);
  }

  @Delete(':id/members/:userId')
  @HttpCode(204)
  @ApiParam({ name: 'userId', description: '`@me` or a user id' })
  @ApiNoContentResponse({ description: '`@me` leaves; the owner or a server admin removes someone else' })
  async removeMember(
    @CurrentUser() me: AuthenticatedUser,
    @Param('id') id: string,
    @Param('userId') userId: string,
  ): Promise<void> {
    await this.channels.removeMember(me, id, userId);
  }

  @Post(':id/typing')
  @HttpCode(204)
  @ApiNoContentResponse({ description: 'members get TYPING_START; nothing is stored' })
  async typing(@CurrentUser() me: AuthenticatedUser, @Param('id') id: string): Promise<void> {
    await this.channels.typing(me, id);
  }
}

@ApiTags('channels')
@ApiBearerAuth()
@Controller('api/v1/dms')
export class DmsController {
  constructor(private readonly channels: ChannelsService) {}

  @Post()
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
