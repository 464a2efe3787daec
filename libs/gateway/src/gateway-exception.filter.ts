import { type ArgumentsHost, Catch, type ExceptionFilter, Logger } from '@nestjs/common';
import type { WebSocket } from 'ws';
import { closeSocket } from './gateway-ws.adapter';
import { CloseCode } from './protocol';

/**
 * A gateway handler that throws ends its connection with 4000 (the client resumes) and is logged;
 * Nest's default would send an `exception` event our clients do not speak, and the app's HTTP
 * filter ignores WebSocket calls. Nothing of the error reaches the client.
 */
@Catch()
export class GatewayExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('Gateway');

  catch(exception: unknown, host: ArgumentsHost): void {
    this.logger.error(
      `frame handling failed: ${exception instanceof Error ? exception.message : String(exception)}`,
    );
    closeSocket(host.switchToWs().getClient<WebSocket>(), CloseCode.UnknownError, 'unknown error');
  }
}
