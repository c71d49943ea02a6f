// The search filter shared by search, aggregate, tail and the CLI, and the one
// parser that turns HTTP query parameters into it.

import { LEVELS, type Level } from "../protocol/event.ts";
import { normalizeLevel } from "../ingest/level.ts";
import { parseTimestamp } from "../ingest/timestamp.ts";
import { FILTER_VALUES_MAX, QUERY_TIMEOUT_DEFAULT_MS, QUERY_TIMEOUT_MAX_MS, SEARCH_LIMIT_DEFAULT, SEARCH_LIMIT_MAX } from "./limits.ts";
import type { QueryNode } from "./ast.ts";
import { parseQuery } from "./parser.ts";
import { parseEventId } from "../storage/schema.ts";

export interface SearchFilter {
  services: string[];
  levels: Level[];
  hostnames: string[];
  traceIds: string[];
  /** The parsed `q` (query language, README); null matches everything. */
  query: QueryNode | null;
  /** Event-time range [fromUs, toUs), microseconds. */
  fromUs?: number;
  toUs?: number;
  /** Only these events (ids as search returns them): the context endpoint's anchor. */
  eventIds?: string[];
}

export interface Cursor {
  ts: number;
  id: string;
}

/** Result order of a search: newest first (the default) or oldest first. */
export type SearchOrder = "newest" | "oldest";

export interface SearchRequest {
  filter: SearchFilter;
  limit: number;
  order: SearchOrder;
  cursor?: Cursor;
  /** API fields to return (id always comes); absent: all. */
  fields?: ApiField[];
}

/** Fields of an event in the API, and the stored columns each needs. */
export const API_FIELDS = {
  id: [],
  timestamp: [],
  ingest_ts: [],
  tenant: ["tenant"],
  level: ["level"],
  service: ["service"],
  hostname: ["hostname"],
  trace_id: ["trace_id"],
  span_id: ["span_id"],
  message: ["message"],
  metadata: ["metadata"],
} as const satisfies Record<string, readonly string[]>;
export type ApiField = keyof typeof API_FIELDS;

export class QueryError extends Error {
  readonly status = 400;
  constructor(
    readonly code: "bad_parameter" | "bad_query" | "bad_cursor",
    message: string,
    /** Structured detail for the error body, e.g. the position of a syntax error. */
    readonly detail?: Record<string, unknown>,
  ) {
    super(message);
  }
}

/** Parses q with the query language (parser.ts); a syntax error is a 400 naming the position and what was expected. */
export function parseQueryParam(q: string): QueryNode | null {
  const parsed = parseQuery(q);
  if (!parsed.ok) throw new QueryError("bad_query", parsed.error.message, { position: parsed.error.position, expected: parsed.error.expected });
  return parsed.query;
}

/** A parameter's comma-separated values, over every occurrence of it, trimmed, empties dropped. */
export function splitList(params: URLSearchParams, name: string): string[] {
  return params.getAll(name).flatMap((value) => value.split(",")).map((value) => value.trim()).filter((value) => value !== "");
}

function listParam(params: URLSearchParams, name: string): string[] {
  const values = splitList(params, name);
  if (values.length > FILTER_VALUES_MAX) throw new QueryError("bad_parameter", `${name} has ${values.length} values, over the ${FILTER_VALUES_MAX} limit`);
  return values;
}

const RELATIVE_TIME = /^now(?:\s*-\s*(\d{1,9})\s*(ms|s|m|h|d|w))?$/;
/** Microseconds in each unit of a relative time (also the CLI's "ago" durations). */
export const UNIT_US: Readonly<Record<string, number>> = { ms: 1e3, s: 1e6, m: 60e6, h: 3600e6, d: 86_400e6, w: 604_800e6 };

/** `now`, `now-15m`, `now-2h`, `now-7d` (units ms, s, m, h, d, w) to microseconds; null if not relative. */
function parseRelativeTime(raw: string, nowUs: number): number | null {
  const match = RELATIVE_TIME.exec(raw.trim());
  if (!match) return null;
  return match[1] === undefined ? nowUs : nowUs - Number(match[1]) * UNIT_US[match[2]];
}

function timeParam(params: URLSearchParams, name: string, nowUs: number): number | undefined {
  const raw = params.get(name);
  if (raw === null || raw === "") return undefined;
  const value = parseRelativeTime(raw, nowUs) ?? parseTimestamp(/^\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw);
  if (value === null) throw new QueryError("bad_parameter", `${name}: ${JSON.stringify(raw.slice(0, 64))} is not an RFC 3339 time, an epoch number or a relative time like now-15m`);
  return value;
}

export function parseFilter(params: URLSearchParams, nowUs: number = Date.now() * 1000): SearchFilter {
  const levels = listParam(params, "level").map((raw) => {
    const level = normalizeLevel(raw);
    if (!level) throw new QueryError("bad_parameter", `level: unknown level ${JSON.stringify(raw.slice(0, 32))}; use one of ${LEVELS.join(", ")}`);
    return level;
  });
  const fromUs = timeParam(params, "from", nowUs);
  const toUs = timeParam(params, "to", nowUs);
  if (fromUs !== undefined && toUs !== undefined && fromUs >= toUs) throw new QueryError("bad_parameter", "from must be before to");
  return {
    services: listParam(params, "service"),
    levels,
    hostnames: listParam(params, "hostname"),
    traceIds: listParam(params, "trace_id"),
    query: parseQueryParam(params.get("q") ?? ""),
    fromUs,
    toUs,
  };
}

/** A cursor names the last row of a page and the order it was read in (absent: newest first). */
export function encodeCursor(cursor: Cursor, order: SearchOrder = "newest"): string {
  return Buffer.from(JSON.stringify(order === "newest" ? [cursor.ts, cursor.id] : [cursor.ts, cursor.id, order])).toString("base64url");
}

export function decodeCursor(text: string, order: SearchOrder = "newest"): Cursor {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(text, "base64url").toString("utf8"));
  } catch {
    parsed = undefined; // not ours: refused below
  }
  const [ts, id, cursorOrder = "newest"] = Array.isArray(parsed) ? parsed : [];
  if (!Number.isSafeInteger(ts) || typeof id !== "string" || parseEventId(id) === null) throw new QueryError("bad_cursor", "cursor is not one this server issued");
  if (cursorOrder !== order) throw new QueryError("bad_cursor", `cursor continues an order=${String(cursorOrder)} search, not order=${order}`);
  return { ts, id };
}

/** `fields=timestamp,service,message`: the API fields to return; undefined when absent. */
export function parseFields(params: URLSearchParams): ApiField[] | undefined {
  const raw = params.get("fields");
  if (raw === null || raw.trim() === "") return undefined;
  const fields = [...new Set(raw.split(",").map((field) => field.trim()).filter((field) => field !== ""))];
  for (const field of fields) {
    if (!Object.hasOwn(API_FIELDS, field)) throw new QueryError("bad_parameter", `fields: ${JSON.stringify(field.slice(0, 64))} is not one of ${Object.keys(API_FIELDS).join(", ")}`);
  }
  return fields as ApiField[];
}

/** An integer parameter within [min, max]; undefined when absent or empty. */
export function integerParam(params: URLSearchParams, name: string, min: number, max: number): number | undefined {
  const raw = params.get(name);
  if (raw === null || raw === "") return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) throw new QueryError("bad_parameter", `${name}: ${JSON.stringify(raw.slice(0, 32))} is not an integer from ${min} to ${max}`);
  return value;
}

/** `timeout_ms`: the query's time budget, default and maximum in limits.ts. */
export function parseTimeoutMs(params: URLSearchParams): number {
  return integerParam(params, "timeout_ms", 1, QUERY_TIMEOUT_MAX_MS) ?? QUERY_TIMEOUT_DEFAULT_MS;
}

export function parseSearchRequest(params: URLSearchParams): SearchRequest {
  const rawLimit = params.get("limit");
  let limit = SEARCH_LIMIT_DEFAULT;
  if (rawLimit !== null && rawLimit !== "") {
    limit = Number(rawLimit);
    if (!Number.isInteger(limit) || limit < 1) throw new QueryError("bad_parameter", `limit: ${JSON.stringify(rawLimit.slice(0, 32))} is not a positive integer`);
    limit = Math.min(limit, SEARCH_LIMIT_MAX);
  }
  const rawOrder = (params.get("order") ?? "newest").toLowerCase();
  const order: SearchOrder | undefined = rawOrder === "newest" || rawOrder === "desc" ? "newest" : rawOrder === "oldest" || rawOrder === "asc" ? "oldest" : undefined;
  if (!order) throw new QueryError("bad_parameter", `order: ${JSON.stringify(rawOrder.slice(0, 32))} is not newest or oldest`);
  const rawCursor = params.get("cursor");
  const fields = parseFields(params);
  return { filter: parseFilter(params), limit, order, cursor: rawCursor ? decodeCursor(rawCursor, order) : undefined, ...(fields ? { fields } : {}) };
}
