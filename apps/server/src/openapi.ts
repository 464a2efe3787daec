import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { buildInfo, completeOpenApi, countUnroutedRequests } from '@cariosan/core';

export const OPENAPI_JSON_PATH = '/api/v1/openapi.json';
export const API_DOCS_PATH = '/api/docs';
/** Served from memory: no dependency can make them 503. */
const STATIC_PATHS = [OPENAPI_JSON_PATH, '/api/v1/asyncapi.json'];

const DESCRIPTION = `Self-hosted team chat: REST under /api/v1 and a WebSocket gateway at /gateway
(described by /api/v1/asyncapi.json).

Ids are Snowflakes rendered as decimal strings (they sort by creation time); timestamps are ISO-8601 UTC.
Every error has the shape {"error": {"code", "message", "details"}}; unknown JSON properties are refused
with 400. Lists use keyset pagination (before/after ids and limit, default 50, max 100). Every /api/v1
answer carries RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset.

The repository's docs/api.md is the reference in prose; docs/gateway.md describes the gateway.`;

/** The routes served by Swagger itself rather than by a controller, described here by hand. */
function addDocumentRoutes(doc: OpenAPIObject): OpenAPIObject {
  const common = { tags: ['operations'], 'x-public': true };
  doc.paths[OPENAPI_JSON_PATH] = {
    get: {
      ...common,
      operationId: 'openapi',
      summary: 'This OpenAPI 3 document',
      responses: {
        '200': {
          description: 'OpenAPI 3.0 JSON',
          content: { 'application/json': { schema: { type: 'object' } } },
        },
      },
    },
  };
  doc.paths[API_DOCS_PATH] = {
    get: {
      ...common,
      operationId: 'apiDocs',
      summary: 'A browsable page of this document (Swagger UI)',
      responses: { '200': { description: 'HTML', content: { 'text/html': { schema: { type: 'string' } } } } },
    },
  };
  return doc;
}

/** The OpenAPI document of everything the app mounts, completed with errors, headers and auth. */
export function buildOpenApi(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Cariosan API')
    .setDescription(DESCRIPTION)
    .setVersion(buildInfo().version)
    .build();
  return completeOpenApi(addDocumentRoutes(SwaggerModule.createDocument(app, config)), STATIC_PATHS);
}

/** Serves the document and its page; the document is built on the first request, not at boot. */
export function setupApiDocs(app: INestApplication): void {
  // Served by Swagger, not by a controller: no guard counts it, so count it here (anonymous bucket).
  app.use(OPENAPI_JSON_PATH, countUnroutedRequests(app));
  SwaggerModule.setup(API_DOCS_PATH.slice(1), app, () => buildOpenApi(app), {
    jsonDocumentUrl: OPENAPI_JSON_PATH.slice(1),
    raw: ['json'],
  });
}
