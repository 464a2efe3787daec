import { applyDecorators, SetMetadata } from '@nestjs/common';
import { ApiExtension } from '@nestjs/swagger';

export const IS_PUBLIC = 'cariosan:public';

/**
 * Marks a route (or a whole controller) as reachable without a bearer token. The same mark
 * tells the OpenAPI document that the route needs no token (see `completeOpenApi`).
 */
export const Public = () => applyDecorators(SetMetadata(IS_PUBLIC, true), ApiExtension('x-public', true));
