import { Controller, Get, Header } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { buildInfo, Public } from '@cariosan/core';
import { buildAsyncApi } from './asyncapi';

@Public()
@ApiTags('operations')
@Controller('api/v1')
export class AsyncApiController {
  private document: Record<string, unknown> | undefined;

  @Get('asyncapi.json')
  @Header('Cache-Control', 'no-cache')
  @ApiOperation({ summary: 'The AsyncAPI 3.0 document of the gateway (/gateway WebSocket)' })
  @ApiOkResponse({ description: 'AsyncAPI 3.0 JSON', schema: { type: 'object' } })
  asyncApi(): Record<string, unknown> {
    // Built on first request, not at boot: most replicas are never asked.
    return (this.document ??= buildAsyncApi(buildInfo().version));
  }
}
