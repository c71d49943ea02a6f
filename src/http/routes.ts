// The HTTP API: routes to the ingest and query gateways, the tenant from the
// credential, and error mapping at this edge only.

import { describe } from "../actors/supervisor.ts";
import { DEFAULT_TENANT } from "../protocol/subjects.ts";
import { parseFilter, parseGroupBy, parseSearchRequest, QueryError } from "../query/filter.ts";
import type { QueryGateway } from "../query/query-gateway.ts";
import type { IngestGateway } from "../ingest/ingest-gateway.ts";
import { errorResponse, HttpError, jsonResponse } from "./errors.ts";

export interface RouteContext {
  ingest: IngestGateway;
  query: QueryGateway;
  apiKeys: ReadonlyMap<string, string>;
  health: () => Promise<Record<string, unknown>>;
  ready: () => { ready: boolean; reasons: string[] };
  log: (line: string) => void;
}

/** The tenant comes from the credential, never from the payload. */
export function tenantOf(request: Request, apiKeys: ReadonlyMap<string, string>): string {
  if (apiKeys.size === 0) return DEFAULT_TENANT;
  const header = request.headers.get("authorization") ?? "";
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  if (!match) throw new HttpError(401, "unauthorized", "missing Authorization: Bearer <api key>");
  const tenant = apiKeys.get(match[1]);
  if (!tenant) throw new HttpError(401, "unauthorized", "unknown API key");
  return tenant;
}

export function createFetchHandler(context: RouteContext): (request: Request) => Promise<Response> {
  return async (request) => {
    const url = new URL(request.url);
    try {
      return await route(request, url, context);
    } catch (error) {
      if (error instanceof HttpError) return errorResponse(error);
      if (error instanceof QueryError) return errorResponse(new HttpError(error.status, error.code, error.message, undefined, error.detail));
      context.log(`http: ${request.method} ${url.pathname} failed: ${describe(error)}`);
      return errorResponse(new HttpError(500, "internal", "internal error; see the node's log"));
    }
  };
}

async function route(request: Request, url: URL, context: RouteContext): Promise<Response> {
  const path = url.pathname;
  const method = request.method;
  if (path === "/healthz") return jsonResponse({ status: "ok" });
  if (path === "/readyz") {
    const readiness = context.ready();
    return jsonResponse({ status: readiness.ready ? "ready" : "not_ready", reasons: readiness.reasons }, readiness.ready ? 200 : 503);
  }
  if (path === "/api/v1/logs") {
    if (method !== "POST") throw new HttpError(405, "method_not_allowed", "use POST to ingest");
    return context.ingest.ingest(request, url, tenantOf(request, context.apiKeys));
  }
  if (path === "/api/v1/logs/search") {
    if (method !== "GET") throw new HttpError(405, "method_not_allowed", "use GET to search");
    const tenant = tenantOf(request, context.apiKeys);
    return jsonResponse(await context.query.search(tenant, parseSearchRequest(url.searchParams)));
  }
  if (path === "/api/v1/logs/aggregate") {
    if (method !== "GET") throw new HttpError(405, "method_not_allowed", "use GET to aggregate");
    const tenant = tenantOf(request, context.apiKeys);
    return jsonResponse(await context.query.aggregate(tenant, parseFilter(url.searchParams), parseGroupBy(url.searchParams)));
  }
  if (path === "/api/v1/system/health") {
    if (method !== "GET") throw new HttpError(405, "method_not_allowed", "use GET");
    tenantOf(request, context.apiKeys);
    return jsonResponse(await context.health());
  }
  throw new HttpError(404, "not_found", `no route ${method} ${path}`);
}
