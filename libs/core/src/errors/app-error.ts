/** The codes of the contract's error shape, each with its HTTP status. */
export const ERROR_STATUS = {
  validation_failed: 400,
  invalid_json: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  request_timeout: 408,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  idempotency_mismatch: 422,
  rate_limited: 429,
  headers_too_large: 431,
  internal_error: 500,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details: unknown[] };
}

/**
 * Base of every error a domain throws on purpose. Domains subclass it (UsersError,
 * ChannelsError...) so a stack trace tells where it came from; the one exception filter
 * turns it into the contract's shape.
 */
export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: unknown[] = [],
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }

  toBody(): ErrorBody {
    return { error: { code: this.code, message: this.message, details: this.details } };
  }
}

export class NotFoundError extends AppError {
  constructor(what = 'resource') {
    super('not_found', `${what} not found`);
  }
}

export class UnauthorizedError extends AppError {
  constructor(message = 'missing or invalid credentials') {
    super('unauthorized', message);
  }
}

export class ForbiddenError extends AppError {
  constructor(message = 'not allowed') {
    super('forbidden', message);
  }
}

export class ValidationError extends AppError {
  constructor(details: { field: string; message: string }[], message = 'request validation failed') {
    super('validation_failed', message, details);
  }
}

export class UnavailableError extends AppError {
  constructor(message = 'a dependency is unavailable, try again shortly') {
    super('unavailable', message);
  }
}
