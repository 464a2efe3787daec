import { type ArgumentsHost, Catch, type ExceptionFilter, Logger } from '@nestjs/common';
import type { WebSocket } from 'ws';
import { frameFailed } from './gateway-ws.adapter';

/**
 * A gateway handler that throws ends its connection with 4000 (the client resumes) and is logged;
 * Nest's default would send an `exception` event our clients do not speak, and the app's HTTP
 * filter ignores WebSocket calls. Nothing of the error reaches the client.
 */
@Catch()
export class GatewayExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('Gateway');

  catch(exception: unknown, host: ArgumentsHost): void {
    frameFailed(this.logger, host.switchToWs().getClient<WebSocket>(), exception);
  }
}
