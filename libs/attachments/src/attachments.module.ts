import { Inject, Module, OnModuleInit } from '@nestjs/common';
import { AppConfig, OBJECT_STORAGE, type ObjectStoragePort, ReadinessRegistry } from '@cariosan/core';
import { ChannelsModule } from '@cariosan/channels';
import { AttachmentUrls } from './attachment-urls';
import { AttachmentsController } from './attachments.controller';
import { AttachmentsService } from './attachments.service';
import { AttachmentsSweeper } from './attachments.sweeper';
import { LocalObjectsController } from './local-objects.controller';
import { LocalStorage } from './storage/local-storage';

@Module({
  imports: [ChannelsModule],
  controllers: [AttachmentsController, LocalObjectsController],
  providers: [
    {
      provide: OBJECT_STORAGE,
      inject: [AppConfig],
      // Chosen once at boot: the bucket when one is configured, else local disk in the data dir.
      // The AWS SDK is loaded only for a bucket: without one it would cost memory for nothing.
      useFactory: async (c: AppConfig): Promise<ObjectStoragePort> =>
        c.s3 ? new (await import('./storage/s3-storage')).S3Storage(c.s3) : new LocalStorage(c),
    },
    AttachmentUrls,
    AttachmentsService,
    AttachmentsSweeper,
  ],
  exports: [OBJECT_STORAGE, AttachmentUrls, AttachmentsService, AttachmentsSweeper],
})
export class AttachmentsModule implements OnModuleInit {
  constructor(
    private readonly readiness: ReadinessRegistry,
    @Inject(OBJECT_STORAGE) private readonly storage: ObjectStoragePort,
  ) {}

  onModuleInit(): void {
    // A cheap HeadBucket (local disk: the directory is writable).
    this.readiness.register('storage', () => this.storage.ping());
  }
}
