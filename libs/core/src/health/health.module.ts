import { Controller, Get, Global, Inject, Module, OnModuleInit } from '@nestjs/common';
import {
  ApiOkResponse,
  ApiOperation,
  ApiProperty,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import { buildInfo } from '../build/build-info';
import { HealthCheck, HealthCheckService, HealthIndicatorService, TerminusModule } from '@nestjs/terminus';
import { InjectDataSource } from '@nestjs/typeorm';
import type Redis from 'ioredis';
import { DataSource } from 'typeorm';
import { AppError } from '../errors/app-error';
import { ShutdownState } from '../lifecycle/shutdown-state';
import { REDIS } from '../redis/redis.module';
import { ReadinessRegistry } from './readiness';
import { Public } from '../auth/public.decorator';

const PROBE_TIMEOUT_MS = 2000;

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

class LivenessResponse {
  @ApiProperty({ enum: ['ok'] }) status: 'ok';
  @ApiProperty({ example: '0.2.0', description: 'the running release (package.json version)' })
  version: string;
  @ApiProperty({ example: '1a2b3c4d5e6f', description: 'the git commit it was built from, or unknown' })
  commit: string;
}

const CHECKS = {
  type: 'object' as const,
  additionalProperties: { type: 'object', properties: { status: { type: 'string', enum: ['up'] } } },
};

/** Terminus' answer: each check (database, schema, redis when configured, storage) with its status. */
class ReadinessResponse {
  @ApiProperty({ enum: ['ok'] }) status: 'ok';
  @ApiProperty({
    ...CHECKS,
    description: 'one entry per check: database, schema, redis (when configured), storage (object storage)',
  })
  info: Record<string, { status: 'up' }>;
  @ApiProperty({ type: 'object', additionalProperties: true, description: 'empty when ready' })
  error: Record<string, never>;
  @ApiProperty({ ...CHECKS, description: 'the same checks as info' }) details: Record<
    string,
    { status: 'up' }
  >;
}

@Public()
@ApiTags('operations')
@Controller()
class HealthController implements OnModuleInit {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly readiness: ReadinessRegistry,
    private readonly shutdown: ShutdownState,
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(REDIS) private readonly redis: Redis | null,
  ) {}

  onModuleInit(): void {
    this.readiness.register('database', async () => {
      await this.dataSource.query('SELECT 1');
    });
    // Not ready while migrations are pending (CARIOS_MIGRATE_ON_BOOT=false and nobody migrated yet):
    // queries would fail. Once current, the schema only moves forward: stop asking.
    let schemaCurrent = false;
    this.readiness.register('schema', async () => {
      if (schemaCurrent) return;
      if (await this.dataSource.showMigrations()) throw new Error('migrations are pending');
      schemaCurrent = true;
    });
    const redis = this.redis;
    if (redis) {
      this.readiness.register('redis', async () => {
        await redis.ping();
      });
    }
  }

  /** Liveness: the process runs and its event loop turns. */
  @Get('healthz')
  @ApiOperation({ summary: 'Liveness: 200 while the process runs (no dependency is checked)' })
  @ApiOkResponse({ type: LivenessResponse })
  liveness(): LivenessResponse {
    const { version, commit } = buildInfo();
    return { status: 'ok', version, commit };
  }

  /** Readiness: every dependency answers and the node is not draining. */
  @Get('readyz')
  @ApiOperation({
    summary: 'Readiness: 200 when Postgres, the schema, Redis (when configured) and object storage answer',
    description: 'Take the replica out of rotation on 503; it answers 503 from the moment SIGTERM arrives.',
  })
  @ApiOkResponse({ type: ReadinessResponse })
  @ApiServiceUnavailableResponse({
    description: 'unavailable: not ready; details name each check ({check, status, message}) or shutdown',
  })
  @HealthCheck({ swaggerDocumentation: false })
  async readiness_(): Promise<unknown> {
    if (this.shutdown.isDraining) {
      throw new AppError('unavailable', 'shutting down', [{ check: 'shutdown', status: 'down' }]);
    }
    try {
      return await this.health.check(
        this.readiness.entries().map(([name, probe]) => async () => {
          const session = this.indicators.check(name);
          try {
            await withTimeout(probe(), PROBE_TIMEOUT_MS);
            return session.up();
          } catch (err) {
            return session.down({ message: err instanceof Error ? err.message : 'unreachable' });
          }
        }),
      );
    } catch (err) {
      // Terminus throws with the per-check result: keep which one failed, in the contract's shape.
      const result = (
        err as { response?: { details?: Record<string, { status: string; message?: string }> } }
      ).response;
      const details = Object.entries(result?.details ?? {}).map(([check, v]) => ({ check, ...v }));
      const failed = details.filter((d) => d.status !== 'up').map((d) => d.check);
      throw new AppError('unavailable', `not ready: ${failed.join(', ') || 'unknown'}`, details);
    }
  }
}

@Global()
@Module({
  imports: [TerminusModule.forRoot({ logger: false, gracefulShutdownTimeoutMs: 0 })],
  controllers: [HealthController],
  providers: [ReadinessRegistry],
  exports: [ReadinessRegistry],
})
export class HealthModule {}
