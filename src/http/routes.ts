// The HTTP API: routes to the ingest and query gateways, the tenant from the
// credential, and error mapping at this edge only.

import { describe } from "../actors/supervisor.ts";
import { DEFAULT_TENANT } from "../protocol/subjects.ts";
import { parseAggregateSpec } from "../query/aggregate.ts";
import { EXPORT_FORMATS, type Exporter, type ExportFormat } from "../query/export.ts";
import { integerParam, parseFields, parseFilter, parseSearchRequest, parseTimeoutMs, QueryError } from "../query/filter.ts";
import { CONTEXT_EVENTS_MAX } from "../query/limits.ts";
import { ClientGoneError, type QueryGateway } from "../query/query-gateway.ts";
import type { TailHub } from "../query/tail.ts";
import type { IngestGateway } from "../ingest/ingest-gateway.ts";
import { errorResponse, HttpError, jsonResponse } from "./errors.ts";
import { IngestError } from "../ingest/errors.ts";
import { UnknownNodeError, type ClusterApi } from "../cluster/cluster-status.ts";
import { NODE_ID_PATTERN } from "../node/config.ts";
import { readCapped } from "./body.ts";

/** Admin request bodies are a node id: a small cap. */
const ADMIN_BODY_BYTES_MAX = 4096;

export interface RouteContext {
  ingest: IngestGateway;
  query: QueryGateway;
  exporter: Exporter;
  tail: TailHub;
  apiKeys: ReadonlyMap<string, string>;
  health: () => Promise<Record<string, unknown>>;
  ready: () => { ready: boolean; reasons: string[] };
  cluster: ClusterApi;
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
      // Nobody reads the answer; 499 is what proxies log for it.
      if (error instanceof ClientGoneError) return new Response(null, { status: 499 });
      if (error instanceof QueryError) return errorResponse(new HttpError(error.status, error.code, error.message, undefined, error.detail));
      if (error instanceof IngestError) return errorResponse(new HttpError(error.status, error.code, error.message));
      if (error instanceof UnknownNodeError) return errorResponse(new HttpError(404, error.code, error.message));
      context.log(`http: ${request.method} ${url.pathname} failed: ${describe(error)}`);
      return errorResponse(new HttpError(500, "internal", "internal error; see the node's log"));
    }
  };
}

function queryOptions(request: Request, url: URL): { timeoutMs: number; signal: AbortSignal } {
  return { timeoutMs: parseTimeoutMs(url.searchParams), signal: request.signal };
}

/** before/after of the context endpoint: 10 by default, at most CONTEXT_EVENTS_MAX. */
function countParam(url: URL, name: string): number {
  return integerParam(url.searchParams, name, 0, CONTEXT_EVENTS_MAX) ?? 10;
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
    return jsonResponse(await context.query.search(tenant, parseSearchRequest(url.searchParams), queryOptions(request, url)));
  }
  if (path === "/api/v1/logs/aggregate") {
    if (method !== "GET") throw new HttpError(405, "method_not_allowed", "use GET to aggregate");
    const tenant = tenantOf(request, context.apiKeys);
    const filter = parseFilter(url.searchParams);
    const counters = url.searchParams.get("counters");
    if (counters !== null && counters !== "true" && counters !== "false") throw new HttpError(400, "bad_parameter", "counters: true or false");
    return jsonResponse(await context.query.aggregate(tenant, filter, parseAggregateSpec(url.searchParams, filter), { ...queryOptions(request, url), counters: counters !== "false" }));
  }
  if (path === "/api/v1/logs/context") {
    if (method !== "GET") throw new HttpError(405, "method_not_allowed", "use GET for context");
    const tenant = tenantOf(request, context.apiKeys);
    const id = url.searchParams.get("id");
    if (!id) throw new HttpError(400, "bad_parameter", "id: the event to show the context of is required");
    return jsonResponse(await context.query.context(tenant, id, countParam(url, "before"), countParam(url, "after"), parseFields(url.searchParams), queryOptions(request, url)));
  }
  if (path === "/api/v1/logs/tail") {
    if (method !== "GET") throw new HttpError(405, "method_not_allowed", "use GET to tail");
    const tenant = tenantOf(request, context.apiKeys);
    return context.tail.open(tenant, parseFilter(url.searchParams), request.signal);
  }
  if (path === "/api/v1/logs/export") {
    if (method !== "GET") throw new HttpError(405, "method_not_allowed", "use GET to export");
    const tenant = tenantOf(request, context.apiKeys);
    const format = (url.searchParams.get("format") ?? "ndjson").toLowerCase();
    if (!(EXPORT_FORMATS as readonly string[]).includes(format)) throw new HttpError(400, "bad_parameter", `format: ${JSON.stringify(format.slice(0, 32))} is not one of ${EXPORT_FORMATS.join(", ")}`);
    return context.exporter.open(tenant, parseSearchRequest(url.searchParams), format as ExportFormat, queryOptions(request, url));
  }
  if (path === "/api/v1/system/health") {
    if (method !== "GET") throw new HttpError(405, "method_not_allowed", "use GET");
    tenantOf(request, context.apiKeys);
    return jsonResponse(await context.health());
  }
  if (path.startsWith("/api/v1/cluster")) return clusterRoute(request, path, context);
  throw new HttpError(404, "not_found", `no route ${method} ${path}`);
}

/** Cluster status and admin: GET /api/v1/cluster, POST …/drain, …/undrain, …/rebalance. */
async function clusterRoute(request: Request, path: string, context: RouteContext): Promise<Response> {
  tenantOf(request, context.apiKeys);
  const method = request.method;
  if (path === "/api/v1/cluster") {
    if (method !== "GET") throw new HttpError(405, "method_not_allowed", "use GET");
    return jsonResponse(await context.cluster.status());
  }
  if (path === "/api/v1/cluster/drain" || path === "/api/v1/cluster/undrain") {
    if (method !== "POST") throw new HttpError(405, "method_not_allowed", "use POST");
    const bytes = request.body ? await readCapped(request.body, ADMIN_BODY_BYTES_MAX, () => new HttpError(413, "body_too_large", `admin bodies are at most ${ADMIN_BODY_BYTES_MAX} bytes`)) : new Uint8Array();
    let node: unknown;
    try {
      node = (JSON.parse(new TextDecoder().decode(bytes)) as { node?: unknown } | null)?.node;
    } catch {
      throw new HttpError(400, "bad_json", 'body must be JSON: {"node": "<node id>"}');
    }
    if (typeof node !== "string" || !NODE_ID_PATTERN.test(node)) throw new HttpError(400, "bad_parameter", 'body must be {"node": "<node id>"}');
    return jsonResponse(await context.cluster.drain(node, path.endsWith("/drain")));
  }
  if (path === "/api/v1/cluster/rebalance") {
    if (method !== "POST") throw new HttpError(405, "method_not_allowed", "use POST");
    return jsonResponse(await context.cluster.rebalance());
  }
  throw new HttpError(404, "not_found", `no route ${method} ${path}`);
}
