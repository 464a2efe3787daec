import { ApiProperty } from '@nestjs/swagger';
import { IsIn } from 'class-validator';
import type { ChosenStatus } from '@cariosan/core';

export const CHOSEN_STATUSES: readonly ChosenStatus[] = ['online', 'idle', 'dnd'];

export class SetPresenceDto {
  @ApiProperty({
    enum: CHOSEN_STATUSES,
    description: 'shown while the user has a live gateway session; offline otherwise',
  })
  @IsIn(CHOSEN_STATUSES, { message: 'status must be one of online, idle, dnd' })
  status: ChosenStatus;
}
