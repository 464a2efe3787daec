import { Body, Controller, Get, HttpCode, Param, Patch, Post } from '@nestjs/common';
import {
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { ApiErrors, ApiIdParam, Public, RateLimit } from '@cariosan/core';
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
  @ApiOperation({
    summary: 'Create an account and log in',
    description:
      'The first account on an empty server is the server admin. CARIOS_REGISTRATION decides who may ' +
      'register: open (anyone), invite (with an inviteCode), closed (nobody; see the admin command).',
  })
  @ApiCreatedResponse({ type: AuthResponse })
  @ApiErrors({
    400: 'validation_failed; also when CARIOS_REGISTRATION=invite and inviteCode is missing (field inviteCode)',
    403: 'registration is closed, the invite code is unknown, expired or used, or CARIOS_ADMIN_USERNAME must register first',
    409: 'the username is taken (usernames are unique case-insensitively)',
  })
  async register(@Body() dto: RegisterDto): Promise<AuthResponse> {
    const { user, token } = await this.users.register(
      dto.username,
      dto.password,
      dto.displayName,
      dto.inviteCode,
    );
    return { user: toUserView(user), token };
  }

  @Public()
  @RateLimit('login')
  @Post('login')
  @HttpCode(200)
  @ApiOperation({ summary: 'Log in: a new token for a username and password' })
  @ApiOkResponse({ type: AuthResponse })
  @ApiErrors({ 401: 'unknown user or wrong password (the same answer for both)' })
  async login(@Body() dto: LoginDto): Promise<AuthResponse> {
    const { user, token } = await this.users.login(dto.username, dto.password);
    return { user: toUserView(user), token };
  }

  @Post('logout')
  @HttpCode(204)
  @ApiOperation({ summary: 'Revoke the token of this request, on REST and on open gateway sessions' })
  @ApiNoContentResponse({ description: 'revoked' })
  async logout(@CurrentUser() me: AuthenticatedUser): Promise<void> {
    await this.users.logout(me);
  }
}

@ApiTags('users')
@Controller('api/v1/users')
export class UsersController {
  constructor(private readonly users: UsersService) {}

  @Get('@me')
  @ApiOperation({ summary: 'The caller' })
  @ApiOkResponse({ type: UserResponse })
  async me(@CurrentUser() me: AuthenticatedUser): Promise<UserResponse> {
    return toUserView(await this.users.get(me.id));
  }

  @Patch('@me')
  @ApiOperation({ summary: 'Change the caller’s display name' })
  @ApiOkResponse({ type: UserResponse })
  async updateMe(@CurrentUser() me: AuthenticatedUser, @Body() dto: UpdateMeDto): Promise<UserResponse> {
    return toUserView(await this.users.update(me.id, dto));
  }

  @Get(':id')
  @ApiOperation({ summary: 'A user by id' })
  @ApiIdParam('id', 'user id')
  @ApiOkResponse({ type: UserResponse })
  async get(@Param('id') id: string): Promise<UserResponse> {
    return toUserView(await this.users.get(id));
  }
}
