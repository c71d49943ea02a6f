// Runs a query tree over one event in memory, with the same meaning as the SQL the
// planner builds (planner.ts): used by live tail and alert rules on the stream, and by
// the tests that check parse/print round trips select the same events. Pure.

import { LEVELS, type NormalizedEvent } from "../protocol/event.ts";
import type { FieldRef, QueryNode } from "./ast.ts";
import { NUMERIC_TEXT_PATTERN } from "./planner.ts";

const NUMERIC_TEXT = new RegExp(NUMERIC_TEXT_PATTERN);

/** The fields of an event a query can see. `metadata` is the stored JSON text. */
export type QueryableEvent = Pick<NormalizedEvent, "level" | "service" | "hostname" | "traceId" | "spanId" | "message" | "metadata">;

/** json_extract_string's view of a metadata value: strings as they are, other scalars and objects as JSON text; absent is null. */
function metadataValue(event: QueryableEvent, path: readonly string[], cache: Map<string, unknown>): string | null {
  let parsed: unknown;
  if (cache.has("")) parsed = cache.get("");
  else {
    try {
      parsed = JSON.parse(event.metadata);
    } catch {
      parsed = undefined; // not JSON: no path matches, as in SQL
    }
    cache.set("", parsed);
  }
  let value = parsed;
  for (const segment of path) {
    if (typeof value !== "object" || value === null || Array.isArray(value) || !Object.hasOwn(value, segment)) return null;
    value = (value as Record<string, unknown>)[segment];
  }
  if (value === null || value === undefined) return null;
  return typeof value === "string" ? value : JSON.stringify(value);
}

function fieldValue(event: QueryableEvent, field: FieldRef, cache: Map<string, unknown>): string | null {
  if ("metadata" in field) return metadataValue(event, field.metadata, cache);
  switch (field.name) {
    case "service":
      return event.service;
    case "level":
      return event.level;
    case "hostname":
      return event.hostname;
    case "trace_id":
      return event.traceId;
    case "span_id":
      return event.spanId;
  }
}

function compare(left: number, op: string, right: number): boolean {
  return op === ">" ? left > right : op === ">=" ? left >= right : op === "<" ? left < right : left <= right;
}

export function matchesEvent(node: QueryNode | null, event: QueryableEvent, cache: Map<string, unknown> = new Map()): boolean {
  if (node === null) return true;
  switch (node.type) {
    case "and":
      return node.children.every((child) => matchesEvent(child, event, cache));
    case "or":
      return node.children.some((child) => matchesEvent(child, event, cache));
    case "not":
      return !matchesEvent(node.child, event, cache);
    case "text":
      return event.message.toLowerCase().includes(node.value.toLowerCase());
    case "match": {
      const value = fieldValue(event, node.field, cache);
      if (value === null) return false;
      return node.prefix ? value.startsWith(node.value) : value === node.value;
    }
    case "compare": {
      if ("name" in node.field) return compare(LEVELS.indexOf(event.level), node.op, node.value);
      const raw = metadataValue(event, node.field.metadata, cache);
      if (raw === null || !NUMERIC_TEXT.test(raw)) return false;
      const number = Number(raw);
      return Number.isFinite(number) && compare(number, node.op, node.value);
    }
  }
}
