import { DynamicModule, Module } from '@nestjs/common';
import { AppConfig, CoreModule } from '@cariosan/core';
import { ChannelsModule } from '@cariosan/channels';
import { GatewayModule } from '@cariosan/gateway';
import { MessagesModule } from '@cariosan/messages';
import { SCHEMA } from '@cariosan/migrations';
import { RateLimitModule } from '@cariosan/ratelimit';
import { UsersModule } from '@cariosan/users';
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
        MessagesModule,
        GatewayModule,
        WebhooksModule,
      ],
    };
  }
}
