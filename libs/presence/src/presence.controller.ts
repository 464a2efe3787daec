import { Body, Controller, Get, HttpCode, Put, Query } from '@nestjs/common';
import { ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { ApiErrors, isSnowflake, type PresenceStatus, ValidationError } from '@cariosan/core';
import { type AuthenticatedUser, CurrentUser } from '@cariosan/users';
import { SetPresenceDto } from './dto/presence.dto';
import { PresenceService } from './presence.service';

/** Most ids one `GET /presence` may ask about. */
export const MAX_PRESENCE_IDS = 100;

@ApiTags('presence')
@Controller('api/v1')
export class PresenceController {
  constructor(private readonly presence: PresenceService) {}

  @Put('users/@me/presence')
  @HttpCode(204)
  @ApiOperation({
    summary: 'Choose online, idle or dnd',
    description:
      'Kept until changed; shown while the caller has a live gateway session (offline otherwise). ' +
      'Users sharing a channel with the caller get PRESENCE_UPDATE when what they see changes.',
  })
  @ApiNoContentResponse({ description: 'stored' })
  async set(@CurrentUser() me: AuthenticatedUser, @Body() dto: SetPresenceDto): Promise<void> {
    await this.presence.setStatus(me.id, dto.status);
  }

  @Get('presence')
  @ApiOperation({
    summary: 'Statuses of up to 100 users',
    description:
      'Only users who share a channel with the caller (and the caller) are in the answer; other ids ' +
      'are left out, so the answer says nothing about users the caller cannot see.',
  })
  @ApiQuery({
    name: 'userIds',
    type: String,
    required: true,
    description: 'comma-separated user ids, 1 to 100',
    example: '123,456',
  })
  @ApiOkResponse({
    description: '`{userId: status}`',
    schema: {
      type: 'object',
      additionalProperties: { type: 'string', enum: ['online', 'idle', 'dnd', 'offline'] },
      example: { '123': 'online', '456': 'offline' },
    },
  })
  @ApiErrors({ 400: 'userIds missing, not ids, or more than 100' })
  async get(
    @CurrentUser() me: AuthenticatedUser,
    @Query() query: Record<string, unknown>,
  ): Promise<Record<string, PresenceStatus>> {
    return this.presence.visibleStatuses(me.id, parseUserIds(query));
  }
}

function parseUserIds(query: Record<string, unknown>): string[] {
  const details: { field: string; message: string }[] = [];
  for (const key of Object.keys(query ?? {}))
    if (key !== 'userIds') details.push({ field: key, message: `property ${key} should not exist` });
  const raw = query?.userIds;
  if (typeof raw !== 'string' || raw === '') {
    details.push({ field: 'userIds', message: 'userIds must be given once: comma-separated user ids' });
    throw new ValidationError(details);
  }
  const ids = [...new Set(raw.split(','))];
  if (ids.some((id) => !isSnowflake(id)))
    details.push({ field: 'userIds', message: 'userIds must be comma-separated user ids' });
  else if (ids.length > MAX_PRESENCE_IDS)
    details.push({ field: 'userIds', message: `userIds may name at most ${MAX_PRESENCE_IDS} users` });
  if (details.length) throw new ValidationError(details);
  return ids;
}
