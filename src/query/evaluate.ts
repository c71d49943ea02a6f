// Runs a query tree over one event in memory, with the same meaning as the SQL the
// planner builds (planner.ts): used by live tail and alert rules on the stream, and by
// the tests that check parse/print round trips select the same events. Pure.

import type { NormalizedEvent } from "../protocol/event.ts";
import { levelIndex } from "../storage/schema.ts";
import type { FieldRef, QueryNode } from "./ast.ts";
import { NUMERIC_TEXT_PATTERN } from "./planner.ts";
import { containsWords } from "./words.ts";

const NUMERIC_TEXT = new RegExp(NUMERIC_TEXT_PATTERN);

/** The fields of an event a query can see. `metadata` is the stored JSON text. */
export type QueryableEvent = Pick<NormalizedEvent, "level" | "service" | "hostname" | "traceId" | "spanId" | "message" | "metadata">;

/** What one event's terms share, worked out at most once: the parsed metadata and the lower-cased message. */
export interface EventContext {
  event: QueryableEvent;
  metadataParsed: boolean;
  metadata: unknown;
  lowerMessage?: string;
}

/** json_extract_string's view of a metadata value: strings as they are, other scalars and objects as JSON text; absent is null. */
function metadataValue(context: EventContext, path: readonly string[]): string | null {
  if (!context.metadataParsed) {
    context.metadataParsed = true;
    try {
      context.metadata = JSON.parse(context.event.metadata);
    } catch {
      context.metadata = undefined; // not JSON: no path matches, as in SQL
    }
  }
  let value = context.metadata;
  for (const segment of path) {
    if (typeof value !== "object" || value === null || Array.isArray(value) || !Object.hasOwn(value, segment)) return null;
    value = (value as Record<string, unknown>)[segment];
  }
  if (value === null || value === undefined) return null;
  return typeof value === "string" ? value : JSON.stringify(value);
}

function fieldValue(context: EventContext, field: FieldRef): string | null {
  if ("metadata" in field) return metadataValue(context, field.metadata);
  const event = context.event;
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

/** `left op right` for a comparison term's operator. */
export function compare(left: number, op: string, right: number): boolean {
  return op === ">" ? left > right : op === ">=" ? left >= right : op === "<" ? left < right : left <= right;
}

function matches(node: QueryNode, context: EventContext): boolean {
  switch (node.type) {
    case "and":
      return node.children.every((child) => matches(child, context));
    case "or":
      return node.children.some((child) => matches(child, context));
    case "not":
      return !matches(node.child, context);
    case "text":
      context.lowerMessage ??= context.event.message.toLowerCase();
      return containsWords(context.lowerMessage, node.value.toLowerCase(), node.prefix === true);
    case "match": {
      const value = fieldValue(context, node.field);
      if (value === null) return false;
      return node.prefix ? value.startsWith(node.value) : value === node.value;
    }
    case "compare": {
      if ("name" in node.field) return compare(levelIndex(context.event.level), node.op, node.value);
      const raw = metadataValue(context, node.field.metadata);
      if (raw === null || !NUMERIC_TEXT.test(raw)) return false;
      const number = Number(raw);
      return Number.isFinite(number) && compare(number, node.op, node.value);
    }
  }
}

/** A fresh context for `event`: pass one to every query run over the same event (a tail's sessions), so it is parsed once. */
export function eventContext(event: QueryableEvent): EventContext {
  return { event, metadataParsed: false, metadata: undefined };
}

export function matchesEvent(node: QueryNode | null, event: QueryableEvent, context: EventContext = eventContext(event)): boolean {
  return node === null || matches(node, context);
}
