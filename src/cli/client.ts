// logctl's HTTP client of a node's API. Operating failures are values, not throws:
// every call resolves to a Result whose error says whether the node was unreachable,
// too slow, answered with an error, or answered something that is not our API.

import type { Connection } from "./options.ts";
import { HTTP_REQUEST_TIMEOUT_MS, HTTP_RESPONSE_BYTES_MAX } from "./limits.ts";
import { readCapped } from "../http/body.ts";
import type { ClusterStatus, DrainReply, RebalanceReply } from "../cluster/status-types.ts";

export type Result<T> = { ok: true; value: T } | { ok: false; error: ClientError };

export type ClientError =
  /** No connection: refused, DNS, TLS, reset. */
  | { kind: "unreachable"; url: string; message: string }
  | { kind: "timeout"; url: string; timeoutMs: number }
  /** The node answered with an error status; `body` keeps extras such as `rejected`. */
  | { kind: "http"; url: string; status: number; code: string; message: string; retryAfterSeconds?: number; body: Record<string, unknown> }
  /** A 2xx (or error) answer that is not the API's JSON, or is over HTTP_RESPONSE_BYTES_MAX. */
  | { kind: "bad_response"; url: string; status: number; message: string }
  | { kind: "aborted"; url: string };

/** An event as the search API returns it. */
export interface ApiEvent {
  id: string;
  timestamp: string;
  ingest_ts?: string;
  tenant?: string;
  level: string;
  service: string;
  hostname: string;
  trace_id?: string;
  span_id?: string;
  message: string;
  metadata?: unknown;
}

export interface SearchPage {
  logs: ApiEvent[];
  next_cursor: string | null;
  took_ms?: number;
  partial?: boolean;
  missing_shards?: { shard: number; reason: string }[];
}

export interface IngestAnswer {
  accepted: number;
  rejected: { line: number; error: string }[];
  rejected_total?: number;
}

export interface PostLogsRequest {
  body: Uint8Array<ArrayBuffer>;
  contentType: string;
  gzip: boolean;
  idempotencyKey: string;
  params?: Record<string, string>;
}

/** What a 2xx answer must look like to be used; checked before a command reads it, so a node of another version is reported, not crashed on. */
interface AnswerShape {
  /** `a cluster status`: the noun of the error message. */
  what: string;
  test(body: Record<string, unknown>): boolean;
}

const CLUSTER_STATUS_SHAPE: AnswerShape = {
  what: "a cluster status",
  test: (body) => Array.isArray(body.nodes) && Array.isArray(body.shards) && Array.isArray(body.moves) && typeof body.replication === "object" && body.replication !== null,
};
const DRAIN_REPLY_SHAPE: AnswerShape = {
  what: "a drain answer",
  test: (body) => typeof body.node === "string" && typeof body.draining === "boolean" && typeof body.shards === "number",
};
const REBALANCE_REPLY_SHAPE: AnswerShape = { what: "a rebalance answer", test: (body) => Array.isArray(body.moves) };

export class SluiceClient {
  constructor(
    private readonly connection: Connection,
    private readonly timeoutMs = HTTP_REQUEST_TIMEOUT_MS,
  ) {}

  health(signal?: AbortSignal): Promise<Result<Record<string, unknown>>> {
    return this.request("GET", "/api/v1/system/health", { signal });
  }

  search(params: URLSearchParams, signal?: AbortSignal): Promise<Result<SearchPage>> {
    return this.request<SearchPage>("GET", `/api/v1/logs/search?${params}`, { signal });
  }

  postLogs(request: PostLogsRequest): Promise<Result<IngestAnswer>> {
    const query = request.params ? `?${new URLSearchParams(request.params)}` : "";
    const headers: Record<string, string> = { "content-type": request.contentType, "idempotency-key": request.idempotencyKey };
    let body = request.body;
    if (request.gzip) {
      body = Bun.gzipSync(body);
      headers["content-encoding"] = "gzip";
    }
    return this.request<IngestAnswer>("POST", `/api/v1/logs${query}`, { body, headers });
  }

  cluster(signal?: AbortSignal): Promise<Result<ClusterStatus>> {
    return this.request<ClusterStatus>("GET", "/api/v1/cluster", { signal, shape: CLUSTER_STATUS_SHAPE });
  }

  /** Asks `node` to hand its shards away; a node the cluster does not know is a 404 unknown_node. */
  drain(node: string): Promise<Result<DrainReply>> {
    return this.request<DrainReply>("POST", "/api/v1/cluster/drain", { ...jsonBody({ node }), shape: DRAIN_REPLY_SHAPE });
  }

  undrain(node: string): Promise<Result<DrainReply>> {
    return this.request<DrainReply>("POST", "/api/v1/cluster/undrain", { ...jsonBody({ node }), shape: DRAIN_REPLY_SHAPE });
  }

  rebalance(): Promise<Result<RebalanceReply>> {
    return this.request<RebalanceReply>("POST", "/api/v1/cluster/rebalance", { shape: REBALANCE_REPLY_SHAPE });
  }

  private async request<T>(method: string, path: string, init: { body?: Uint8Array<ArrayBuffer>; headers?: Record<string, string>; signal?: AbortSignal; shape?: AnswerShape }): Promise<Result<T>> {
    const url = `${this.connection.url}${path}`;
    const headers: Record<string, string> = { accept: "application/json", ...init.headers };
    if (this.connection.apiKey) headers.authorization = `Bearer ${this.connection.apiKey}`;
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, { method, headers, body: init.body, signal });
      text = await readResponseText(response, HTTP_RESPONSE_BYTES_MAX);
    } catch (error) {
      return { ok: false, error: transportError(error, url, this.timeoutMs, init.signal) };
    }
    const result = interpretResponse<T>(url, response.status, response.headers.get("retry-after"), text);
    if (result.ok && init.shape && !init.shape.test(result.value as Record<string, unknown>)) {
      return { ok: false, error: { kind: "bad_response", url, status: response.status, message: `answer is not ${init.shape.what}: ${text.slice(0, 200).trim()}` } };
    }
    return result;
  }
}

function jsonBody(value: unknown): { body: Uint8Array<ArrayBuffer>; headers: Record<string, string> } {
  return { body: new TextEncoder().encode(JSON.stringify(value)), headers: { "content-type": "application/json" } };
}

/** Maps what fetch threw to a ClientError: our abort, the timeout, or no connection. */
function transportError(error: unknown, url: string, timeoutMs: number, callerSignal?: AbortSignal): ClientError {
  if (callerSignal?.aborted) return { kind: "aborted", url };
  const name = error instanceof Error ? error.name : "";
  if (name === "TimeoutError") return { kind: "timeout", url, timeoutMs };
  if (error instanceof ResponseTooLarge) return { kind: "bad_response", url, status: error.status, message: error.message };
  const code = (error as { code?: unknown }).code;
  if (code === "ECONNREFUSED" || code === "ConnectionRefused") return { kind: "unreachable", url, message: "connection refused" };
  const message = error instanceof Error ? error.message : String(error);
  return { kind: "unreachable", url, message: typeof code === "string" && !message.includes(code) ? `${code}: ${message}` : message };
}

class ResponseTooLarge extends Error {
  constructor(readonly status: number) {
    super(`response is over the ${HTTP_RESPONSE_BYTES_MAX}-byte limit`);
  }
}

async function readResponseText(response: Response, bytesMax: number): Promise<string> {
  if (!response.body) return "";
  return new TextDecoder().decode(await readCapped(response.body, bytesMax, () => new ResponseTooLarge(response.status)));
}

/** A status and body to a Result; pure, so the error shapes are tested without a server. */
export function interpretResponse<T>(url: string, status: number, retryAfter: string | null, text: string): Result<T> {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    const snippet = text.slice(0, 200).trim();
    const message = `answer is not JSON (${error instanceof Error ? error.message : String(error)})${snippet ? `: ${snippet}` : ""}`;
    if (status >= 200 && status < 300) return { ok: false, error: { kind: "bad_response", url, status, message } };
    return { ok: false, error: { kind: "http", url, status, code: `http_${status}`, message: snippet || message, body: {} } };
  }
  if (status >= 200 && status < 300) {
    if (typeof body !== "object" || body === null) return { ok: false, error: { kind: "bad_response", url, status, message: "answer is not a JSON object" } };
    return { ok: true, value: body as T };
  }
  const record = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
  const detail = (typeof record.error === "object" && record.error !== null ? record.error : {}) as { code?: unknown; message?: unknown };
  const retrySeconds = retryAfter === null ? Number.NaN : Number(retryAfter);
  return {
    ok: false,
    error: {
      kind: "http",
      url,
      status,
      code: typeof detail.code === "string" ? detail.code : `http_${status}`,
      message: typeof detail.message === "string" ? detail.message : text.slice(0, 200),
      ...(Number.isFinite(retrySeconds) && retrySeconds >= 0 ? { retryAfterSeconds: retrySeconds } : {}),
      body: record,
    },
  };
}
