import { applyDecorators } from '@nestjs/common';
import { ApiParam, ApiQuery, ApiResponse } from '@nestjs/swagger';
import type {
  OpenAPIObject,
  OperationObject,
  ParameterObject,
  ResponseObject,
} from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { ERROR_STATUS, ErrorCode } from '../errors/app-error';
import { DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT } from './pagination';

/**
 * OpenAPI helpers. Controllers say what is particular to a route (summary, 403 reasons, 409,
 * 422); `completeOpenApi` adds what follows from the route's shape, the same way for every route
 * (401 when authenticated, 400/413/415 when it takes a body, 404 for path ids, 429 and 503 under
 * /api/v1), so a new route cannot forget them.
 */

/** The statuses the contract's error shape is documented for. */
export type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 429 | 503;

/** The code a client sees for each status (400 may also be `invalid_json`). */
const CODE_OF: Record<ErrorStatus, ErrorCode> = {
  400: 'validation_failed',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'idempotency_mismatch',
  429: 'rate_limited',
  503: 'unavailable',
};

const SNOWFLAKE_SCHEMA = {
  type: 'string' as const,
  pattern: '^[0-9]{1,19}$',
  description: 'a Snowflake id: a decimal string up to 9223372036854775807',
  example: '123456789012345678',
};

/** Error answers particular to a route, each with why it happens there. */
export function ApiErrors(reasons: Partial<Record<ErrorStatus, string>>): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ...Object.entries(reasons).map(([status, description]) =>
      ApiResponse({ status: Number(status), description }),
    ),
  );
}

/** A path id (a Snowflake); anything else answers 404. */
export function ApiIdParam(name: string, description: string): MethodDecorator & ClassDecorator {
  return ApiParam({ name, description, schema: SNOWFLAKE_SCHEMA });
}

/** Keyset pagination as `parsePageQuery` reads it: id cursors and `limit`. */
export function ApiPageQuery(
  cursors: ('before' | 'after')[],
  ...descriptions: string[]
): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ...cursors.map((name, i) =>
      ApiQuery({
        name,
        required: false,
        description: descriptions[i] ?? `id cursor (${name})`,
        schema: SNOWFLAKE_SCHEMA,
      }),
    ),
    ApiQuery({
      name: 'limit',
      required: false,
      description: `page size; more than ${MAX_PAGE_LIMIT} is a 400`,
      schema: { type: 'integer', minimum: 1, maximum: MAX_PAGE_LIMIT, default: DEFAULT_PAGE_LIMIT },
    }),
  );
}

export const ERROR_SCHEMA = {
  type: 'object',
  required: ['error'],
  additionalProperties: false,
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message', 'details'],
      additionalProperties: false,
      properties: {
        code: { type: 'string', enum: Object.keys(ERROR_STATUS), description: 'stable, snake_case' },
        message: { type: 'string', description: 'for humans; may change' },
        details: {
          type: 'array',
          description:
            'validation_failed: one {field, message} per bad field; rate_limited: [{retryAfter}]; ' +
            'unavailable from /readyz: one {check, status, message} per check',
          items: { type: 'object' },
        },
      },
    },
  },
};

const GENERIC: Record<ErrorStatus, string> = {
  400: 'validation_failed (details list each bad field) or invalid_json',
  401: 'missing, malformed or revoked bearer token',
  403: 'not allowed',
  404: 'not found, or a path id that is not a Snowflake',
  409: 'conflict',
  413: 'payload_too_large: JSON bodies are limited to 256 KiB',
  415: 'unsupported_media_type: bodies must be application/json (UTF-8)',
  422: 'idempotency_mismatch',
  429: 'rate_limited: details [{retryAfter}] and a Retry-After header',
  503: 'unavailable: a dependency (Postgres, Redis) does not answer; retry after Retry-After seconds',
};

type Methods = Record<string, OperationObject>;

/**
 * Completes a generated document: the opaque bearer scheme (every route needs it unless marked
 * `@Public()`), the one error schema, and the errors and headers that follow from each route's
 * shape. `staticPaths` are served from memory (no 503).
 */
export function completeOpenApi(doc: OpenAPIObject, staticPaths: string[] = []): OpenAPIObject {
  doc.components ??= {};
  doc.components.schemas = { ...doc.components.schemas, Error: ERROR_SCHEMA as never };
  doc.components.securitySchemes = {
    bearer: {
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'opaque',
      description:
        'An opaque token (cst_ followed by 43 characters) from POST /api/v1/auth/register or /login, sent as ' +
        '`Authorization: Bearer <token>`. Stored only as a hash; logout revokes it at once. Never in a query string.',
    },
  };
  doc.components.headers = {
    'X-Request-Id': {
      description:
        'the request id (the caller’s X-Request-Id when sane, else a fresh one); it is in the logs',
      schema: { type: 'string' },
    },
    'RateLimit-Limit': { description: 'requests allowed per window', schema: { type: 'integer' } },
    'RateLimit-Remaining': { description: 'requests left in this window', schema: { type: 'integer' } },
    'RateLimit-Reset': { description: 'seconds until the window ends', schema: { type: 'integer' } },
    'Retry-After': { description: 'seconds to wait before retrying', schema: { type: 'integer' } },
  };
  doc.security = [{ bearer: [] }];

  for (const [path, methods] of Object.entries(doc.paths) as [string, Methods][]) {
    const api = path.startsWith('/api/v1/');
    for (const op of Object.values(methods)) {
      const extended = op as OperationObject & Record<string, unknown>;
      const isPublic = extended['x-public'] === true;
      delete extended['x-public'];
      // Nest puts the class-level @ApiBearerAuth here; the document-wide requirement says it once.
      if (isPublic) op.security = [];
      else delete op.security;

      const params = (op.parameters ?? []) as ParameterObject[];
      const add = (status: ErrorStatus) => {
        op.responses[status] ??= { description: GENERIC[status] };
      };
      if (!isPublic) add(401);
      if (op.requestBody) [400, 413, 415].forEach((s) => add(s as ErrorStatus));
      if (params.some((p) => p.in === 'query')) add(400);
      if (params.some((p) => p.in === 'path')) add(404);
      if (api) add(429);
      if (api && !staticPaths.includes(path)) add(503);

      for (const [status, response] of Object.entries(op.responses) as [string, ResponseObject][]) {
        const code = Number(status);
        response.headers = {
          ...response.headers,
          'X-Request-Id': { $ref: '#/components/headers/X-Request-Id' },
        };
        if (api) {
          for (const h of ['RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset']) {
            response.headers[h] = { $ref: `#/components/headers/${h}` };
          }
        }
        if (code === 429 || code === 503) {
          response.headers['Retry-After'] = { $ref: '#/components/headers/Retry-After' };
        }
        if (code >= 400) {
          response.content = {
            'application/json': {
              schema: { $ref: '#/components/schemas/Error' },
              example: {
                error: {
                  code: CODE_OF[code as ErrorStatus] ?? 'validation_failed',
                  message: response.description,
                  details: [],
                },
              },
            },
          };
        }
      }
    }
  }
  return doc;
}
