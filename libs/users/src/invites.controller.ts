import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import {
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { ApiErrors, ApiIdParam, ApiPageQuery, parsePageQuery } from '@cariosan/core';
import { CurrentUser } from './auth.guard';
import { CreatedInviteResponse, CreateInviteDto, InviteResponse } from './dto/invite.dto';
import { InvitesService } from './invites.service';
import type { AuthenticatedUser } from './users.service';

const ADMIN_ONLY = 'the caller is not a server admin';

@ApiTags('invites')
@Controller('api/v1/invites')
export class InvitesController {
  constructor(private readonly invites: InvitesService) {}

  @Post()
  @ApiOperation({
    summary: 'Create an invite code (admin)',
    description:
      'A single-use code for registering while CARIOS_REGISTRATION=invite. The code is shown once.',
  })
  @ApiCreatedResponse({ type: CreatedInviteResponse })
  @ApiErrors({ 403: ADMIN_ONLY })
  async create(
    @CurrentUser() me: AuthenticatedUser,
    @Body() dto: CreateInviteDto,
  ): Promise<CreatedInviteResponse> {
    return this.invites.create(me, dto.expiresInSeconds);
  }

  @Get()
  @ApiOperation({ summary: 'List invites, newest first (admin)' })
  @ApiPageQuery(['before'], 'invite id: older invites')
  @ApiOkResponse({ type: [InviteResponse] })
  @ApiErrors({ 403: ADMIN_ONLY })
  async list(
    @CurrentUser() me: AuthenticatedUser,
    @Query() query: Record<string, unknown>,
  ): Promise<InviteResponse[]> {
    return this.invites.list(me, parsePageQuery(query, ['before']));
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete an invite (admin); an unused code stops working at once' })
  @ApiIdParam('id', 'invite id')
  @ApiNoContentResponse({ description: 'deleted' })
  @ApiErrors({ 403: ADMIN_ONLY, 404: 'no such invite' })
  async delete(@CurrentUser() me: AuthenticatedUser, @Param('id') id: string): Promise<void> {
    await this.invites.delete(me, id);
  }
}
