// The search filter shared by search, aggregate, tail and the CLI, and the one
// parser that turns HTTP query parameters into it.

import { LEVELS, type Level } from "../protocol/event.ts";
import { normalizeLevel } from "../ingest/level.ts";
import { parseTimestamp } from "../ingest/timestamp.ts";
import { FILTER_VALUES_MAX, QUERY_TERMS_MAX, QUERY_TEXT_CHARS_MAX, SEARCH_LIMIT_DEFAULT, SEARCH_LIMIT_MAX } from "./limits.ts";

export interface SearchFilter {
  services: string[];
  levels: Level[];
  hostnames: string[];
  traceIds: string[];
  /** Words and phrases that must all appear in the message, case-insensitively. */
  terms: string[];
  /** Event-time range [fromUs, toUs), microseconds. */
  fromUs?: number;
  toUs?: number;
}

export interface Cursor {
  ts: number;
  id: string;
}

export interface SearchRequest {
  filter: SearchFilter;
  limit: number;
  cursor?: Cursor;
}

export const GROUP_BY_FIELDS = ["service", "level", "hostname"] as const;
export type GroupByField = (typeof GROUP_BY_FIELDS)[number];

export class QueryError extends Error {
  readonly status = 400;
  constructor(
    readonly code: "bad_parameter" | "bad_query" | "bad_cursor",
    message: string,
  ) {
    super(message);
  }
}

/** Splits q into words and "quoted phrases"; an unclosed quote is an error naming its position. */
export function parseTerms(q: string): string[] {
  if (q.length > QUERY_TEXT_CHARS_MAX) throw new QueryError("bad_query", `q is ${q.length} characters, over the ${QUERY_TEXT_CHARS_MAX} limit`);
  const terms: string[] = [];
  let index = 0;
  while (index < q.length) {
    const char = q[index];
    if (/\s/.test(char)) {
      index++;
      continue;
    }
    if (char === '"') {
      const end = q.indexOf('"', index + 1);
      if (end < 0) throw new QueryError("bad_query", `q: unclosed quote at position ${index + 1}`);
      const phrase = q.slice(index + 1, end);
      if (phrase.trim() !== "") terms.push(phrase);
      index = end + 1;
      continue;
    }
    let end = index;
    while (end < q.length && !/[\s"]/.test(q[end])) end++;
    terms.push(q.slice(index, end));
    index = end;
  }
  if (terms.length > QUERY_TERMS_MAX) throw new QueryError("bad_query", `q has ${terms.length} terms, over the ${QUERY_TERMS_MAX} limit`);
  return terms;
}

function listParam(params: URLSearchParams, name: string): string[] {
  const values = params.getAll(name).flatMap((value) => value.split(",")).map((value) => value.trim()).filter((value) => value !== "");
  if (values.length > FILTER_VALUES_MAX) throw new QueryError("bad_parameter", `${name} has ${values.length} values, over the ${FILTER_VALUES_MAX} limit`);
  return values;
}

function timeParam(params: URLSearchParams, name: string): number | undefined {
  const raw = params.get(name);
  if (raw === null || raw === "") return undefined;
  const value = parseTimestamp(/^\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw);
  if (value === null) throw new QueryError("bad_parameter", `${name}: ${JSON.stringify(raw.slice(0, 64))} is not an RFC 3339 time or an epoch number`);
  return value;
}

export function parseFilter(params: URLSearchParams): SearchFilter {
  const levels = listParam(params, "level").map((raw) => {
    const level = normalizeLevel(raw);
    if (!level) throw new QueryError("bad_parameter", `level: unknown level ${JSON.stringify(raw.slice(0, 32))}; use one of ${LEVELS.join(", ")}`);
    return level;
  });
  const fromUs = timeParam(params, "from");
  const toUs = timeParam(params, "to");
  if (fromUs !== undefined && toUs !== undefined && fromUs >= toUs) throw new QueryError("bad_parameter", "from must be before to");
  return {
    services: listParam(params, "service"),
    levels,
    hostnames: listParam(params, "hostname"),
    traceIds: listParam(params, "trace_id"),
    terms: parseTerms(params.get("q") ?? ""),
    fromUs,
    toUs,
  };
}

export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify([cursor.ts, cursor.id])).toString("base64url");
}

export function decodeCursor(text: string): Cursor {
  try {
    const [ts, id] = JSON.parse(Buffer.from(text, "base64url").toString("utf8"));
    if (Number.isSafeInteger(ts) && typeof id === "string" && /^[0-9a-f]{30}$/.test(id)) return { ts, id };
  } catch {
    // Falls through to the error below: the cursor is not ours.
  }
  throw new QueryError("bad_cursor", "cursor is not one this server issued");
}

export function parseSearchRequest(params: URLSearchParams): SearchRequest {
  const rawLimit = params.get("limit");
  let limit = SEARCH_LIMIT_DEFAULT;
  if (rawLimit !== null && rawLimit !== "") {
    limit = Number(rawLimit);
    if (!Number.isInteger(limit) || limit < 1) throw new QueryError("bad_parameter", `limit: ${JSON.stringify(rawLimit.slice(0, 32))} is not a positive integer`);
    limit = Math.min(limit, SEARCH_LIMIT_MAX);
  }
  const rawCursor = params.get("cursor");
  return { filter: parseFilter(params), limit, cursor: rawCursor ? decodeCursor(rawCursor) : undefined };
}

export function parseGroupBy(params: URLSearchParams): GroupByField {
  const raw = params.get("group_by") ?? "service";
  if (!(GROUP_BY_FIELDS as readonly string[]).includes(raw)) throw new QueryError("bad_parameter", `group_by: ${JSON.stringify(raw.slice(0, 32))} is not one of ${GROUP_BY_FIELDS.join(", ")}`);
  return raw as GroupByField;
}
