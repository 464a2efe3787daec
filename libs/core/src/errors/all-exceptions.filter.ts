import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { AppError, ErrorBody, ErrorCode, ERROR_STATUS } from './app-error';
import { requestIdOf } from '../logging/logging.module';
import { describeError, isOutage } from './outage';
import type { EdgeRateLimit } from '../ports/rate-limit.port';

/** How soon a client may retry after a 503 for an outage, in seconds. */
export const OUTAGE_RETRY_AFTER_SECONDS = 1;

/** The first code of each status: 400 is `validation_failed` (`invalid_json` only for bodies that do not parse). */
const BY_STATUS: Record<number, ErrorCode> = Object.fromEntries(
  Object.entries(ERROR_STATUS)
    .reverse()
    .map(([code, status]) => [status, code as ErrorCode]),
);

/** Turns anything thrown into the contract's error shape and status. */
export function toErrorResponse(err: unknown): {
  status: number;
  body: ErrorBody;
  headers: Record<string, string>;
} {
  if (err instanceof AppError) {
    const headers =
      err.code === 'unavailable' && !err.headers['Retry-After']
        ? { ...err.headers, 'Retry-After': String(OUTAGE_RETRY_AFTER_SECONDS) }
        : err.headers;
    return { status: err.status, body: err.toBody(), headers };
  }

  if (err instanceof HttpException) {
    const status = err.getStatus();
    const code = BY_STATUS[status] ?? (status >= 500 ? 'internal_error' : 'validation_failed');
    const message = status === 404 ? 'no such route' : err.message;
    return { status, body: { error: { code, message, details: [] } }, headers: {} };
  }

  // body-parser errors carry a status and a type.
  const e = err as { status?: number; type?: string; code?: string; message?: string };
  if (e?.type === 'entity.too.large') {
    return shaped(413, 'payload_too_large', 'request body is too large');
  }
  if (e?.type === 'entity.parse.failed') return shaped(400, 'invalid_json', 'request body is not valid JSON');
  if (e?.type === 'charset.unsupported' || e?.type === 'encoding.unsupported') {
    return shaped(415, 'unsupported_media_type', 'only UTF-8 JSON is accepted');
  }
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) {
    return shaped(e.status, BY_STATUS[e.status] ?? 'validation_failed', 'bad request');
  }
  if (isOutage(err)) {
    return {
      ...shaped(503, 'unavailable', 'a dependency is unavailable, try again shortly'),
      headers: { 'Retry-After': String(OUTAGE_RETRY_AFTER_SECONDS) },
    };
  }
  return shaped(500, 'internal_error', 'internal error');
}

function shaped(status: number, code: ErrorCode, message: string) {
  return { status, body: { error: { code, message, details: [] } }, headers: {} };
}

/**
 * The one exception filter. An /api/v1 request that no rate-limit guard counted (no route
 * matched, a path that does not decode) is counted against its IP first (`edge`), and answers 429
 * when that IP is over its budget.
 */
@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  private readonly logger = new Logger('Errors');

  constructor(private readonly edge?: EdgeRateLimit) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') return;
    const req = host.switchToHttp().getRequest<Request>();
    const res = host.switchToHttp().getResponse<Response>();
    if (!this.edge) return this.answer(exception, req, res);
    void this.edge.countUnrouted(req, res).then((refused) => this.answer(refused ?? exception, req, res));
  }

  private answer(exception: unknown, req: Request, res: Response): void {
    const reqId = requestIdOf(req);
    const { status, body, headers } = toErrorResponse(exception);
    if (status === 503) {
      this.logger.warn({ reqId, error: describeError(exception) }, 'request answered 503');
    } else if (status >= 500) {
      this.logger.error(
        { reqId, error: { ...describeError(exception), stack: stackOf(exception) } },
        'request failed',
      );
    }
    if (res.headersSent) return;
    res.status(status).set(headers).json(body);
  }
}

function stackOf(err: unknown): string | undefined {
  return err instanceof Error ? err.stack : undefined;
}
