import { Body, Controller, Get, HttpCode, Param, Patch, Post } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiOkResponse,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { Public } from '@cariosan/core';
import { CurrentUser } from './auth.guard';
import { LoginDto, RegisterDto, UpdateMeDto } from './dto/auth.dto';
import { AuthResponse, UserResponse } from './dto/user.response';
import { AuthenticatedUser, toUserView, UsersService } from './users.service';

@ApiTags('auth')
@Controller('api/v1/auth')
export class AuthController {
  constructor(private readonly users: UsersService) {}

  @Public()
  @Post('register')
  @ApiCreatedResponse({ type: AuthResponse })
  @ApiConflictResponse({ description: 'username taken (case-insensitive)' })
  async register(@Body() dto: RegisterDto): Promise<AuthResponse> {
    const { user, token } = await this.users.register(dto.username, dto.password, dto.displayName);
    return { user: toUserView(user), token };
  }

  @Public()
  @Post('login')
  @HttpCode(200)
  @ApiOkResponse({ type: AuthResponse })
  @ApiUnauthorizedResponse({ description: 'unknown user or wrong password (same answer for both)' })
  async login(@Body() dto: LoginDto): Promise<AuthResponse> {
    const { user, token } = await this.users.login(dto.username, dto.password);
    return { user: toUserView(user), token };
  }

  @Post('logout')
  @HttpCode(204)
  @ApiBearerAuth()
  async logout(@CurrentUser() me: AuthenticatedUser): Promise<void> {
    await this.users.logout(me);
  }
}

@ApiTags('users')
@ApiBearerAuth()
@Controller('api/v1/users')
export class UsersController {
  constructor(private readonly users: UsersService) {}

  @Get('@me')
  @ApiOkResponse({ type: UserResponse })
  async me(@CurrentUser() me: AuthenticatedUser): Promise<UserResponse> {
    return toUserView(await this.users.get(me.id));
  }

  @Patch('@me')
  @ApiOkResponse({ type: UserResponse })
  async updateMe(@CurrentUser() me: AuthenticatedUser, @Body() dto: UpdateMeDto): Promise<UserResponse> {
    return toUserView(await this.users.update(me.id, dto));
  }

  @Get(':id')
  @ApiOkResponse({ type: UserResponse })
  async get(@Param('id') id: string): Promise<UserResponse> {
    return toUserView(await this.users.get(id));
  }
}
