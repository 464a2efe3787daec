import { DynamicModule, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AppConfig, CoreModule } from '@cariosan/core';
import { AttachmentsModule } from '@cariosan/attachments';
import { ChannelsModule } from '@cariosan/channels';
import { GatewayModule } from '@cariosan/gateway';
import { MessagesModule } from '@cariosan/messages';
import { SCHEMA } from '@cariosan/migrations';
import { PresenceModule } from '@cariosan/presence';
import { RateLimitGuard, RateLimitModule } from '@cariosan/ratelimit';
import { AuthGuard, UsersModule } from '@cariosan/users';
import { WebhooksModule } from '@cariosan/webhooks';

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        CoreModule.forRoot(config, SCHEMA),
        UsersModule,
        RateLimitModule,
        ChannelsModule,
        AttachmentsModule,
        MessagesModule,
        PresenceModule,
        GatewayModule,
        WebhooksModule,
      ],
      providers: [
        // In this order: a request is counted in its rate-limit buckets before its token is looked up.
        { provide: APP_GUARD, useExisting: RateLimitGuard },
        { provide: APP_GUARD, useExisting: AuthGuard },
      ],
    };
  }
}
