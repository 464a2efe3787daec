/**
 * The HTTP routes a server process mounted, read from what it logged while booting: Nest logs
 * `Mapped {/api/v1/channels/:id, GET} route` for every controller route at level info. So the
 * server must run with CARIOS_LOG_LEVEL=info (or lower) for this to see anything.
 */
export interface MountedRoute {
  method: string;
  /** Express style: `/api/v1/channels/:id/messages/:mid`. */
  path: string;
}

const MAPPED = /^Mapped \{(\S+), ([A-Z]+)\} route$/;

export function mountedRoutes(output: string): MountedRoute[] {
  const routes: MountedRoute[] = [];
  for (const line of output.split('\n')) {
    if (!line.includes('"RouterExplorer"')) continue;
    const m = MAPPED.exec((JSON.parse(line) as { msg: string }).msg);
    if (m) routes.push({ method: m[2]!, path: m[1]! });
  }
  return routes;
}

export const routeKey = (r: MountedRoute) => `${r.method} ${r.path}`;

/** Path parameter names of a route, in order (`:id`, `:mid`...). */
export function pathParams(path: string): string[] {
  return [...path.matchAll(/:([A-Za-z]+)/g)].map((m) => m[1]!);
}

/** `/channels/:id` (Express) as `/channels/{id}` (OpenAPI). */
export const toOpenApiPath = (path: string) => path.replace(/:([A-Za-z]+)/g, '{$1}');
