// A page of a broad search (`service:X level:ERROR`, `level:>=WARN`) found in time
// windows, then fetched whole. Each of 16 shards answering for its own page made it
// scan until it alone held `limit` matches: with a match every few seconds across the
// node, each shard read ~16 times the rows the page needed (20-30M rows for a first
// page of the last 15 min under live ingest). So the gateway asks every shard for the
// newest window first (the last 15 s, newest first), widening it 8 times a round
// until the merged rows fill the page; those rounds read only the ordering columns
// (DuckDB decodes every column of every row a file holds, whatever the filter
// passes), and a last step reads whole rows at or past the page's last row, unless
// the shards sent every row of the page whole already (they hold them in memory,
// query/shard-recent.ts). Pure, but for the scatter searchInWindows is given.

import type { ShardSearchReply } from "../protocol/query-messages.ts";
import type { QueryNode } from "./ast.ts";
import type { Cursor, SearchFilter, SearchOrder, SearchRequest } from "./filter.ts";
import { FIRST_WINDOW_US, WHOLE_ROWS_ASKED_MAX, WINDOW_GROWTH, WINDOWS_MAX } from "./limits.ts";
import { mergeSearch, type MergedSearch } from "./merge.ts";

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

interface TimeWindow {
  fromUs?: number;
  toUs?: number;
}

/**
 * The disjoint windows a broad search is asked in, in the search's order, covering
 * its range: from its end back (newest first) or from its start on (oldest first), the
 * last one (at most WINDOWS_MAX) taking the rest. Newest first with no `to`, the end is
 * `nowUs` and the first window stays open (rows stamped in the future are in it);
 * oldest first with no `from` is one window, the whole range. A cursor's row bounds
 * the range where the page starts.
 */
export function pageWindows(filter: SearchFilter, order: SearchOrder, nowUs: number, cursor?: Cursor): TimeWindow[] {
  // A cursor's page starts at its row: windows before it would hold nothing.
  const fromUs = order === "oldest" && cursor ? Math.max(filter.fromUs ?? -Infinity, cursor.ts) : filter.fromUs;
  const toUs = order === "newest" && cursor ? Math.min(filter.toUs ?? Infinity, cursor.ts + 1) : filter.toUs;
  const newest = order === "newest";
  // Where the page starts (newest first: the end, or now), and the range's other end (undefined: open).
  const anchor = newest ? (toUs ?? nowUs) : fromUs;
  const far = newest ? fromUs : toUs;
  if (anchor === undefined) return [{ fromUs, toUs }];
  // Cuts from the anchor outward, each window WINDOW_GROWTH times the last, until the far
  // end, the safe integers or WINDOWS_MAX windows (the last takes the rest).
  const cuts: number[] = [];
  for (let at = anchor, width = FIRST_WINDOW_US; cuts.length < WINDOWS_MAX - 1; width *= WINDOW_GROWTH) {
    at = newest ? at - width : at + width;
    if (!Number.isSafeInteger(at) || (far !== undefined && (newest ? at <= far : at >= far))) break;
    cuts.push(at);
  }
  // The first window keeps the range's own (maybe open) near end.
  const bounds = [newest ? toUs : fromUs, ...cuts, far];
  return bounds.slice(1).map((bound, index) => (newest ? { fromUs: bound, toUs: bounds[index] } : { fromUs: bounds[index], toUs: bound }));
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

/**
 * Rows of a window each shard is asked to send whole where it can (wholeFirst): a
 * page of `limit` takes the first rows of each shard's reply, ~limit / shards of them
 * when the matches spread over the shards, so three times that (and a few) covers
 * almost every page and keeps replies small. At most WHOLE_ROWS_ASKED_MAX: a bigger
 * page (an export's) reads its rows in the second step, as each shard would
 * otherwise read hundreds whole for a page that may need the second step anyway.
 */
export function wholeRowsAsked(limit: number, shards: number): number {
  return Math.min(limit, Math.ceil((3 * limit) / Math.max(1, shards)) + 8, WHOLE_ROWS_ASKED_MAX);
}

/**
 * A broad search's page: `ask` scatters a filter to every shard (`keysOnly`: the
 * ordering columns only, and the first rows whole where a shard can) and resolves
 * with the replies. Returns the page, each window's scatter in order, and the
 * whole-row read (none for an empty page, or one every shard sent whole).
 */
export async function searchInWindows<S extends { replies: ShardSearchReply[] }>(request: SearchRequest, nowUs: number, ask: (filter: SearchFilter, keysOnly: boolean) => Promise<S>): Promise<{ merged: MergedSearch; windows: S[]; rows?: S }> {
  const order = request.order ?? "newest";
  const windows: S[] = [];
  let page: MergedSearch = { rows: [], nextCursor: null };
  for (const window of pageWindows(request.filter, order, nowUs, request.cursor)) {
    const step = await ask({ ...request.filter, ...window }, true);
    windows.push(step);
    // Windows are disjoint and in order: rows of later ones come after every row of earlier ones.
    page = mergeSearch(windows.flatMap((each) => each.replies), request.limit, order);
    // Full, or cut short by a reply's byte budget (later windows' rows are past the cut; an earlier cut ended the loop).
    if (page.rows.length >= request.limit || step.replies.some((reply) => reply.truncated)) break;
  }
  const last = page.rows[page.rows.length - 1];
  if (!last) return { merged: page, windows };
  // Shards that hold the page's rows in memory sent them whole (ShardSearchReply.wholeRows): no second read.
  const whole = new Set(windows.flatMap((step) => step.replies.flatMap((reply) => reply.rows.slice(0, reply.wholeRows ?? 0).map((row) => row.id))));
  if (page.rows.every((row) => whole.has(row.id))) {
    const more = page.nextCursor !== null || page.rows.length >= request.limit;
    return { merged: { rows: page.rows, nextCursor: more ? { ts: last.timestampUs, id: last.id } : null }, windows };
  }
  const rows = await ask(narrowToPage(request.filter, order, last.timestampUs), false);
  const merged = mergeSearch(rows.replies, request.limit, order);
  // Whether rows follow the page is the windows' to say: the last step saw only the page's range.
  const more = page.nextCursor !== null || page.rows.length >= request.limit || merged.nextCursor !== null;
  const tail = merged.rows[merged.rows.length - 1];
  return { merged: { rows: merged.rows, nextCursor: more && tail ? { ts: tail.timestampUs, id: tail.id } : null }, windows, rows };
}
