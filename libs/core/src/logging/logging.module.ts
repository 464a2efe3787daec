import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Injectable, MiddlewareConsumer, Module, NestMiddleware } from '@nestjs/common';
import { LoggerModule, PinoLogger } from 'nestjs-pino';
import { AppConfig } from '../config/app-config';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;
/** Probes and scrapes would drown the log. */
const QUIET_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/** A caller's X-Request-Id when it is sane, a fresh one otherwise; echoed on the response. */
function requestId(req: IncomingMessage, res: ServerResponse): string {
  const given = req.headers['x-request-id'];
  const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
  res.setHeader('X-Request-Id', id);
  return id;
}

/** The request id RequestLogMiddleware gave a request (the error filter logs it). */
export function requestIdOf(req: unknown): string | undefined {
  return (req as { id?: string } | undefined)?.id;
}

/** Replaces every configured secret (S3 key, passwords in URLs) wherever it would be printed. */
export function secretScrubber(secrets: string[]): (line: string) => string {
  const live = secrets.filter((s) => s.length >= 4);
  return (line) => live.reduce((acc, s) => acc.split(s).join('[redacted]'), line);
}

/**
 * Gives every request an id (echoed as X-Request-Id) and, at level info and below, logs one
 * "request completed" line when it ends. Instead of pino-http, which builds a child logger per
 * request (serialising the request) and binds it with AsyncLocalStorage whatever the level:
 * about a third of a trivial request's CPU here. Log lines about a request carry its id where
 * they are written (the exception filter).
 */
@Injectable()
class RequestLogMiddleware implements NestMiddleware {
  private readonly logCompleted: boolean;

  constructor(config: AppConfig) {
    this.logCompleted = ['info', 'debug', 'trace'].includes(config.logLevel);
  }

  use(
    req: IncomingMessage & { id?: string; originalUrl?: string },
    res: ServerResponse,
    next: () => void,
  ): void {
    const id = requestId(req, res);
    req.id = id;
    if (this.logCompleted) {
      // Tokens never travel in query strings, but a client might try: drop the query.
      const path = (req.originalUrl ?? req.url ?? '').split('?')[0]!;
      if (!QUIET_PATHS.has(path)) {
        const started = performance.now();
        res.once('finish', () => {
          PinoLogger.root.info(
            {
              reqId: id,
              method: req.method,
              url: path,
              statusCode: res.statusCode,
              responseTime: Math.round(performance.now() - started),
            },
            'request completed',
          );
        });
      }
    }
    next();
  }
}

@Module({
  imports: [
    LoggerModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => {
        const scrub = secretScrubber(config.secrets);
        return {
          // pino-http's per-request middleware is not installed (see RequestLogMiddleware); these
          // options configure the pino logger behind Nest's Logger.
          forRoutes: [],
          pinoHttp: {
            level: config.logLevel,
            redact: {
              paths: [
                'req.headers.authorization',
                'req.headers.cookie',
                'req.headers["x-api-key"]',
                'token',
                'password',
                '*.token',
                '*.password',
              ],
              censor: '[redacted]',
            },
            hooks: {
              streamWrite: scrub,
            },
          },
        };
      },
    }),
  ],
  providers: [RequestLogMiddleware],
})
export class LoggingModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(RequestLogMiddleware).forRoutes('*path');
  }
}
