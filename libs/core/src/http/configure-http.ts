import type { INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import express, { NextFunction, Request, Response } from 'express';
import { AppConfig } from '../config/app-config';
import { AllExceptionsFilter, toErrorResponse } from '../errors/all-exceptions.filter';
import { ValidationError } from '../errors/app-error';
import { createValidationPipe } from './validation';
import { ShutdownState } from '../lifecycle/shutdown-state';

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

  express_.use((_req: Request, res: Response, next: NextFunction) => {
    // Draining: tell keep-alive clients not to reuse this connection.
    if (shutdown.isDraining) res.setHeader('Connection', 'close');
    next();
  });
  express_.use(express.json({ limit: config.bodyLimitBytes, strict: true, type: ['application/json', 'application/*+json'] }));
  express_.use((req: Request, _res: Response, next: NextFunction) => {
    const bad = findBadString(req.body);
    if (bad) {
      return next(
        new ValidationError([{ field: bad.replace(/^body\.?/, '') || 'body', message: 'must be valid Unicode text without NUL characters' }]),
      );
    }
    next();
  });
  // Errors raised by the middleware above never reach Nest's filters: shape them here.
  express_.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    const { status, body, headers } = toErrorResponse(err);
    res.status(status).set(headers).json(body);
  });

  app.useGlobalPipes(createValidationPipe());
  app.useGlobalFilters(new AllExceptionsFilter());
}
