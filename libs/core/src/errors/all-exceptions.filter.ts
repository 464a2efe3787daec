import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Response } from 'express';
import { AppError, ErrorBody, ErrorCode, ERROR_STATUS } from './app-error';

/** The first code of each status: 400 is `validation_failed` (`invalid_json` only for bodies that do not parse). */
const BY_STATUS: Record<number, ErrorCode> = Object.fromEntries(
  Object.entries(ERROR_STATUS)
    .reverse()
    .map(([code, status]) => [status, code as ErrorCode]),
);

/** Postgres SQLSTATE classes that mean the database is unreachable or going away. */
const UNAVAILABLE_SQLSTATES = ['08', '57P'];

/** Turns anything thrown into the contract's error shape and status. */
export function toErrorResponse(err: unknown): {
  status: number;
  body: ErrorBody;
  headers: Record<string, string>;
} {
  if (err instanceof AppError) return { status: err.status, body: err.toBody(), headers: err.headers };

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
  if (isUnavailable(err)) return shaped(503, 'unavailable', 'a dependency is unavailable, try again shortly');
  return shaped(500, 'internal_error', 'internal error');
}

function shaped(status: number, code: ErrorCode, message: string) {
  return { status, body: { error: { code, message, details: [] } }, headers: {} };
}

export function isUnavailable(err: unknown): boolean {
  const e = err as { code?: string; name?: string; message?: string };
  if (typeof e?.code === 'string') {
    if (UNAVAILABLE_SQLSTATES.some((p) => e.code!.startsWith(p))) return true;
    if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH'].includes(e.code))
      return true;
  }
  const msg = e?.message ?? '';
  return (
    /Connection terminated|connection timeout|Client has encountered a connection error|Connection is closed|MaxRetriesPerRequest/i.test(
      msg,
    ) || e?.name === 'ConnectionError'
  );
}

@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  private readonly logger = new Logger('Errors');

  catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') return;
    const res = host.switchToHttp().getResponse<Response>();
    const { status, body, headers } = toErrorResponse(exception);
    if (status >= 500) {
      this.logger.error({ err: exception, code: body.error.code }, 'request failed');
    }
    if (res.headersSent) return;
    res.status(status).set(headers).json(body);
  }
}
