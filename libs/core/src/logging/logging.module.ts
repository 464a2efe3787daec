import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { AppConfig } from '../config/app-config';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** A caller's X-Request-Id when it is sane, a fresh one otherwise; echoed on the response. */
function requestId(req: IncomingMessage, res: ServerResponse): string {
  const given = req.headers['x-request-id'];
  const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
  res.setHeader('X-Request-Id', id);
  return id;
}

/** Replaces every configured secret (S3 key, passwords in URLs) wherever it would be printed. */
export function secretScrubber(secrets: string[]): (line: string) => string {
  const live = secrets.filter((s) => s.length >= 4);
  return (line) => live.reduce((acc, s) => acc.split(s).join('[redacted]'), line);
}

@Module({
  imports: [
    LoggerModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => {
        const scrub = secretScrubber(config.secrets);
        return {
          pinoHttp: {
            level: config.logLevel,
            genReqId: requestId,
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
            // Probes and scrapes would drown the log.
            autoLogging: {
              ignore: (req: IncomingMessage) => ['/healthz', '/readyz', '/metrics'].includes(req.url ?? ''),
            },
            serializers: {
              req: (req: { id: string; method: string; url: string }) => ({
                id: req.id,
                method: req.method,
                // Tokens never travel in query strings, but a client might try: drop the query.
                url: req.url.split('?')[0],
              }),
              res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
            },
            hooks: {
              streamWrite: scrub,
            },
          },
        };
      },
    }),
  ],
})
export class LoggingModule {}
