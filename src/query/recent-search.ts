// A search's page among a shard's recent rows, in memory (storage/recent-rows.ts): for
// a filter on tenant, service, level and time alone (the dashboard's `service:X
// level:ERROR`), which those rows' columns decide exactly as the SQL would. Pure.

import { LEVELS } from "../protocol/event.ts";
import type { QueryNode } from "./ast.ts";
import type { RecentRows, RecentStream } from "../storage/recent-rows.ts";
import { parseEventId } from "../storage/schema.ts";
import { matchesEvent } from "./evaluate.ts";
import type { Cursor, SearchFilter, SearchOrder } from "./filter.ts";

/** What a scan of recent rows needs: which (stream, level) pairs match, the time range, and where the page starts. */
export interface RecentPlan {
  tenant: string;
  filter: SearchFilter;
  order: SearchOrder;
  /** The row after which the page starts (exclusive), as (ts, ingest_ts, seq, idx). */
  after?: readonly [number, number, number, number];
}

/** One matching row: the block (index in the scanned list) and row (file_row_number) it is, and its order key. */
export interface RecentMatch {
  block: number;
  row: number;
  ts: number;
  ingestTs: number;
  seq: number;
  idx: number;
}

/** Whether a query tree names only service and level, which recent rows hold. */
function onlyStreamFields(node: QueryNode): boolean {
  switch (node.type) {
    case "and":
    case "or":
      return node.children.every(onlyStreamFields);
    case "not":
      return onlyStreamFields(node.child);
    case "text":
      return false;
    case "match":
      return "name" in node.field && (node.field.name === "service" || node.field.name === "level");
    case "compare":
      return "name" in node.field && node.field.name === "level";
  }
}

/** A plan when recent rows decide `filter` exactly; null when it asks for anything else (hosts, trace ids, words, metadata, ids). */
export function recentPlan(tenant: string, filter: SearchFilter, order: SearchOrder, cursor?: Cursor): RecentPlan | null {
  if (filter.hostnames.length > 0 || filter.traceIds.length > 0 || (filter.eventIds?.length ?? 0) > 0) return null;
  if (filter.query !== null && !onlyStreamFields(filter.query)) return null;
  let after: RecentPlan["after"];
  if (cursor) {
    const at = parseEventId(cursor.id);
    if (!at) return null; // the SQL path answers a foreign cursor with its error
    after = [cursor.ts, at.ingestUs, at.seq, at.index];
  }
  return { tenant, filter, order, after };
}

/**
 * Per (stream, level), whether its rows match: the filter depends on nothing else.
 * `known` holds each service's levels already worked out in this search: a shard's
 * blocks (one per part and segment) name mostly the same few hundred services.
 */
function matchingPairs(plan: RecentPlan, streams: readonly RecentStream[], known: Map<string, Uint8Array>): Uint8Array {
  const { filter } = plan;
  const table = new Uint8Array(streams.length * LEVELS.length);
  streams.forEach((stream, number) => {
    if (stream.tenant !== plan.tenant || (filter.services.length > 0 && !filter.services.includes(stream.service))) return;
    let levels = known.get(stream.service);
    if (!levels) {
      levels = new Uint8Array(LEVELS.length);
      for (let level = 0; level < LEVELS.length; level++) {
        if (filter.levels.length > 0 && !filter.levels.includes(LEVELS[level])) continue;
        const event = { service: stream.service, level: LEVELS[level], hostname: "", traceId: "", spanId: "", message: "", metadata: "" };
        if (matchesEvent(filter.query, event)) levels[level] = 1;
      }
      known.set(stream.service, levels);
    }
    table.set(levels, number * LEVELS.length);
  });
  return table;
}

/** Newest first: positive when `a` comes after `b` in the page (is older). */
function compareNewest(a: RecentMatch, b: RecentMatch): number {
  return b.ts - a.ts || b.ingestTs - a.ingestTs || b.seq - a.seq || b.idx - a.idx;
}

/**
 * The first `limit` matching rows of `blocks` in the search's order (ties broken by
 * id, as the SQL orders them), and the rows looked at. Keeps at most 2 x limit
 * candidates at a time, so a filter most rows pass costs no more memory.
 */
export function searchRecent(blocks: readonly RecentRows[], plan: RecentPlan, limit: number): { matches: RecentMatch[]; scanned: number } {
  const compare = plan.order === "newest" ? compareNewest : (a: RecentMatch, b: RecentMatch) => compareNewest(b, a);
  const fromUs = plan.filter.fromUs ?? -Infinity;
  const toUs = plan.filter.toUs ?? Infinity;
  const after: RecentMatch | undefined = plan.after && { block: -1, row: -1, ts: plan.after[0], ingestTs: plan.after[1], seq: plan.after[2], idx: plan.after[3] };
  let kept: RecentMatch[] = [];
  /** The limit-th kept row once there were that many: a row not before it cannot enter the page. */
  let bound: RecentMatch | undefined;
  let scanned = 0;
  if (limit < 1) return { matches: [], scanned };
  const probe: RecentMatch = { block: 0, row: 0, ts: 0, ingestTs: 0, seq: 0, idx: 0 };
  const known = new Map<string, Uint8Array>();
  blocks.forEach((block, blockNumber) => {
    const pairs = matchingPairs(plan, block.streams, known);
    const { ts, ingestTs, seq, idx, level, stream } = block;
    scanned += block.rows;
    for (let row = 0; row < block.rows; row++) {
      const time = ts[row];
      if (time < fromUs || time >= toUs || pairs[stream[row] * LEVELS.length + level[row]] === 0) continue;
      // Compared in a scratch record first: a broad filter passes most rows, and few of them enter the page.
      probe.block = blockNumber;
      probe.row = row;
      probe.ts = time;
      probe.ingestTs = ingestTs[row];
      probe.seq = seq[row];
      probe.idx = idx[row];
      if (after && compare(probe, after) <= 0) continue;
      if (bound && compare(probe, bound) >= 0) continue;
      kept.push({ ...probe });
      if (kept.length >= 2 * limit) {
        kept.sort(compare);
        kept = kept.slice(0, limit);
        bound = kept[limit - 1];
      }
    }
  });
  kept.sort(compare);
  return { matches: kept.slice(0, limit), scanned };
}
