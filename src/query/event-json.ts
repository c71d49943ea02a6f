// The API shape of a stored event, shared by search, context, export and live tail.

import type { StoredEvent } from "../protocol/event.ts";
import { formatTimestampUs } from "../ingest/timestamp.ts";
import { API_FIELDS, type ApiField } from "./filter.ts";

function parseMetadata(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // Stored metadata is validated at ingest; anything else is returned as text rather than dropped.
    return text;
  }
}

/** Each API field's value, in API order (the order of a full event's keys). */
const API_FIELD_VALUE: Record<ApiField, (event: StoredEvent) => unknown> = {
  id: (event) => event.id,
  timestamp: (event) => formatTimestampUs(event.timestampUs),
  ingest_ts: (event) => formatTimestampUs(event.ingestTs),
  tenant: (event) => event.tenant,
  level: (event) => event.level,
  service: (event) => event.service,
  hostname: (event) => event.hostname,
  trace_id: (event) => event.traceId,
  span_id: (event) => event.spanId,
  message: (event) => event.message,
  metadata: (event) => parseMetadata(event.metadata),
};
const ALL_FIELDS = Object.keys(API_FIELD_VALUE) as ApiField[];

/** The API shape of an event; with `fields`, only those (and the id, always first). */
export function eventToJson(event: StoredEvent, fields: readonly ApiField[] = ALL_FIELDS): Record<string, unknown> {
  const out: Record<string, unknown> = { id: event.id };
  for (const field of fields) if (field !== "id") out[field] = API_FIELD_VALUE[field](event);
  return out;
}

/** The stored columns `fields` need (the ordering columns always come). */
export function columnsFor(fields: readonly ApiField[] | undefined): string[] | undefined {
  return fields ? [...new Set(fields.flatMap((field) => API_FIELDS[field] as readonly string[]))] : undefined;
}
