import { isUtf8 } from 'node:buffer';
import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import express, { NextFunction, Request, Response } from 'express';
import { AppConfig } from '../config/app-config';
import { AllExceptionsFilter, toErrorResponse } from '../errors/all-exceptions.filter';
import { AppError, ErrorBody, ValidationError } from '../errors/app-error';
import { createValidationPipe } from './validation';
import { ShutdownState } from '../lifecycle/shutdown-state';
import { EDGE_RATE_LIMIT, EdgeRateLimit } from '../ports/rate-limit.port';

/** Finds the first string that Postgres would refuse (NUL) or that is not valid Unicode (lone surrogates). */
export function findBadString(value: unknown, path = 'body', depth = 0): string | undefined {
  if (depth > 32) return path;
  if (typeof value === 'string') {
    return value.includes('\u0000') || !value.isWellFormed() ? path : undefined;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const bad = findBadString(value[i], `${path}[${i}]`, depth + 1);
      if (bad) return bad;
    }
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const bad = findBadString(k, path, depth + 1) ?? findBadString(v, `${path}.${k}`, depth + 1);
      if (bad) return bad;
    }
  }
  return undefined;
}

/**
 * Finds the first object key that names a member of `Object.prototype` (`__proto__`,
 * `constructor`, `hasOwnProperty`...). class-validator's whitelist looks keys up in a plain
 * object, so such keys slip past `forbidNonWhitelisted`; no DTO of ours declares one.
 */
export function findReservedKey(value: unknown, path = 'body', depth = 0): string | undefined {
  if (depth > 32 || !value || typeof value !== 'object') return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const bad = findReservedKey(value[i], `${path}[${i}]`, depth + 1);
      if (bad) return bad;
    }
    return undefined;
  }
  for (const [k, v] of Object.entries(value)) {
    if (k in Object.prototype) return `${path}.${k}`;
    const bad = findReservedKey(v, `${path}.${k}`, depth + 1);
    if (bad) return bad;
  }
  return undefined;
}

const JSON_TYPES = ['application/json', 'application/*+json'];

/** A percent-escape of an unreserved character (RFC 3986 2.3: equivalent to the character itself). */
const ESCAPED_UNRESERVED = /%(?:[46][1-9a-f]|[57][0-9a]|3[0-9]|2[de]|5f|7e)/gi;

/**
 * The request path in the form the router matches: runs of slashes collapsed and escaped
 * unreserved characters decoded (`//api/v1/auth/%6Cogin` is `/api/v1/auth/login`), the query left
 * as it is. Together with Express' case-insensitive, trailing-slash-tolerant matching, every
 * spelling of a route reaches that route (and counts in its rate-limit buckets).
 */
export function normalisePath(url: string): string {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const normal = path.replace(/\/{2,}/g, '/').replace(ESCAPED_UNRESERVED, (e) => decodeURIComponent(e));
  return q === -1 ? normal : normal + url.slice(q);
}

/** The edge rate limiter, when the app has one (libs/ratelimit provides it). */
function edgeRateLimitOf(app: INestApplication): EdgeRateLimit | undefined {
  try {
    return app.get<EdgeRateLimit>(EDGE_RATE_LIMIT, { strict: false });
  } catch {
    return undefined;
  }
}

/**
 * A middleware counting the requests it sees against their IP's anonymous bucket: for routes that
 * are not Nest handlers (the OpenAPI document served by Swagger), which no guard counts.
 */
export function countUnroutedRequests(app: INestApplication) {
  const edge = edgeRateLimitOf(app);
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!edge) return next();
    void edge.countUnrouted(req, res).then((refused) => next(refused));
  };
}

/** Raw-body checks JSON.parse cannot make: a BOM (which iconv would strip) and bytes that are not UTF-8 (which it would turn into U+FFFD). */
function verifyJsonBytes(_req: unknown, _res: unknown, buf: Buffer): void {
  const bom = buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf;
  if (bom || !isUtf8(buf)) {
    throw Object.assign(new Error(bom ? 'byte order mark' : 'invalid UTF-8'), {
      status: 400,
      type: 'entity.parse.failed',
    });
  }
}

/** Requests Node's HTTP parser refuses (oversized headers, bad bytes) never reach Express: answer them in the contract's shape too. */
function answerClientErrors(server: Server): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const [status, reason, body]: [number, string, ErrorBody] =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? [
            431,
            'Request Header Fields Too Large',
            { error: { code: 'headers_too_large', message: 'request headers are too large', details: [] } },
          ]
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [
              408,
              'Request Timeout',
              { error: { code: 'request_timeout', message: 'request not received in time', details: [] } },
            ]
          : [
              400,
              'Bad Request',
              { error: { code: 'validation_failed', message: 'malformed HTTP request', details: [] } },
            ];
    const json = JSON.stringify(body);
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(json)}\r\nConnection: close\r\n\r\n${json}`,
    );
  });
}

/**
 * Everything HTTP-wide: body parsing with the contract's errors for bad JSON and oversized
 * bodies, the proxy trust, the global validation pipe and the one exception filter.
 */
export function configureHttp(app: INestApplication): void {
  const config = app.get(AppConfig);
  const shutdown = app.get(ShutdownState);
  const express_ = app as NestExpressApplication;
  express_.disable('x-powered-by');
  express_.set('trust proxy', config.trustProxyHops);
  express_.set('etag', false);

  const edge = edgeRateLimitOf(app);
  express_.use((req: Request, res: Response, next: NextFunction) => {
    // Draining: tell keep-alive clients not to reuse this connection.
    if (shutdown.isDraining) res.setHeader('Connection', 'close');
    req.url = normalisePath(req.url);
    next();
  });
  answerClientErrors(app.getHttpServer() as Server);
  express_.use((req: Request, _res: Response, next: NextFunction) => {
    // A body we would not parse must not be silently ignored (a PATCH answering 200 for nothing).
    const hasBody =
      req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length']) > 0;
    if (hasBody && !req.is(JSON_TYPES)) {
      return next(new AppError('unsupported_media_type', 'request bodies must be application/json'));
    }
    next();
  });
  express_.use(
    express.json({ limit: config.bodyLimitBytes, strict: true, type: JSON_TYPES, verify: verifyJsonBytes }),
  );
  express_.use((req: Request, _res: Response, next: NextFunction) => {
    const bad = findBadString(req.body);
    if (bad) {
      return next(
        new ValidationError([
          {
            field: bad.replace(/^body\.?/, '') || 'body',
            message: 'must be valid Unicode text without NUL characters',
          },
        ]),
      );
    }
    const reserved = findReservedKey(req.body);
    if (reserved) {
      const field = reserved.replace(/^body\.?/, '');
      return next(
        new ValidationError([{ field, message: `property ${field.split('.').pop()} should not exist` }]),
      );
    }
    next();
  });
  // Errors raised by the middleware above never reach Nest's filters: shape them here, after
  // counting the request against its IP (it never reaches a rate-limit guard).
  express_.use((err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    void (async () => {
      const refused = edge ? await edge.countUnrouted(req, res) : undefined;
      const { status, body, headers } = toErrorResponse(refused ?? err);
      if (!res.headersSent) res.status(status).set(headers).json(body);
    })();
  });

  app.useGlobalPipes(createValidationPipe());
  app.useGlobalFilters(new AllExceptionsFilter(edge));
}
