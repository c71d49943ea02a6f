// A first page of a broad search (`service:X level:ERROR`, `level:>=WARN`) in two
// steps: every shard first answers with the ordering columns of its best rows only,
// and the page's last row bounds the second step, which reads whole rows of the few
// parts and segments at or past it. One step made each of 16 shards read its own page
// of whole rows: DuckDB decodes every column of every row a file holds, whatever the
// filter passes, so a shard paid for ~100k rows of messages to send 100 of them, and
// the gateway kept 100 of 1,600. Pure.

import type { QueryNode } from "./ast.ts";
import type { SearchFilter, SearchOrder } from "./filter.ts";

/**
 * Whether a search is broad enough for two steps: no trace id, event id or message
 * word narrows it to a few rows (those are found through skip keys, and both steps
 * would read the same row groups).
 */
export function keysFirst(filter: SearchFilter): boolean {
  if (filter.traceIds.length > 0 || (filter.eventIds?.length ?? 0) > 0) return false;
  return filter.query === null || !narrowsToFew(filter.query);
}

function narrowsToFew(node: QueryNode): boolean {
  switch (node.type) {
    case "text":
      return true;
    case "match":
      return "name" in node.field && (node.field.name === "trace_id" || node.field.name === "span_id");
    case "compare":
      return false;
    case "not":
      return false;
    case "and":
      return node.children.some(narrowsToFew);
    case "or":
      return node.children.every(narrowsToFew);
  }
}

/**
 * The second step's filter: rows at or past the first step's last row, `lastTs`
 * (newest first: not older; oldest first: not newer). Every row of the first step's
 * page is inside it, and rows stored between the steps only add to it, so its page is
 * the search's page as of the second step.
 */
export function narrowToPage(filter: SearchFilter, order: SearchOrder, lastTs: number): SearchFilter {
  if (order === "newest") return { ...filter, fromUs: Math.max(filter.fromUs ?? -Infinity, lastTs) };
  return { ...filter, toUs: Math.min(filter.toUs ?? Infinity, lastTs + 1) };
}
