// ClickHouse TabSeparated rows of events (the column order of the benchmark's table).

import type { NormalizedEvent } from "../../src/protocol/event.ts";

/** Columns of a TSV row, in order. */
export const TSV_COLUMNS = ["timestamp_us", "level", "service", "hostname", "trace_id", "span_id", "message", "metadata"] as const;
const TSV_SPECIAL = /[\t\n\\]/;

function tsvEscape(text: string): string {
  return TSV_SPECIAL.test(text) ? text.replace(/\\/g, "\\\\").replace(/\t/g, "\\t").replace(/\n/g, "\\n") : text;
}

/** The events as TabSeparated lines, each ending in a newline. */
export function toTsv(events: readonly NormalizedEvent[]): string {
  let out = "";
  for (const event of events) {
    out += `${event.timestampUs}\t${event.level}\t${event.service}\t${event.hostname}\t${event.traceId}\t${event.spanId}\t${tsvEscape(event.message)}\t${tsvEscape(event.metadata)}\n`;
  }
  return out;
}
